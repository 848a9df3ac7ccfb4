"""rayop's Python SDK for notebooks and scripts: RayClusters, RayJobs and RayService status, synchronously.

    import ray, rayop.sdk
    with rayop.sdk.cluster("mine", workers=2, cpus=1) as c:
        ray.init(c.client_address)

Built on the official ``kubernetes`` client and the project's typed models (:mod:`rayop.api`); it never imports the
operator. Failed calls raise :mod:`rayop.sdk.errors` exceptions carrying the API server's message.
"""

from __future__ import annotations

from rayop.sdk import clusters, errors, jobs, services
from rayop.sdk.addresses import Addresses
from rayop.sdk.client import Client
from rayop.sdk.session import Session, cluster
from rayop.sdk.spec import ClusterShape, build_spec

connect = Client.connect

__all__ = ["Addresses", "Client", "ClusterShape", "Session", "build_spec", "cluster", "clusters", "connect",
           "errors", "jobs", "services"]
