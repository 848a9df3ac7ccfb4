"""``with rayop.sdk.cluster("mine", workers=2, cpus=1) as c:`` — a cluster for the length of a notebook block.

Creates the RayCluster (or adopts an existing one of that name with ``reuse=True``), waits until a Ray client can
connect (progress on a terminal or notebook), yields a :class:`Session` with reachable addresses, and deletes the
cluster on exit unless ``keep=True``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rayop.api.raycluster import RayCluster
from rayop.sdk import clusters, errors
from rayop.sdk.addresses import Addresses
from rayop.sdk.client import Client
from rayop.sdk.progress import Progress
from rayop.sdk.spec import ClusterShape, build_spec


@dataclass
class Session:
    """A ready cluster and how to reach it from here."""

    client: Client
    name: str
    namespace: str
    addresses: Addresses

    @property
    def client_address(self) -> str:
        """``ray://host:10001``; raises Unreachable (saying why) when no address works from here."""
        return str(self.addresses.require().client_address)

    @property
    def dashboard_address(self) -> str:
        return str(self.addresses.require().dashboard_address)

    def connect(self, attempts: int = 5, **init_kwargs: Any) -> Any:
        """``ray.init(self.client_address)``, retried the way a notebook user would: each new Ray client gets its
        own client server, started by the head's proxier, and on a loaded head that start can fail ("Starting Ray
        client server failed") even right after another client connected. Returns what ``ray.init`` returns."""
        import time

        import ray

        for attempt in range(1, attempts + 1):
            try:
                return ray.init(self.client_address, **init_kwargs)
            except ConnectionError as exc:  # the proxier's failure arrives as ConnectionAbortedError
                if attempt == attempts or "Starting Ray client server failed" not in str(exc):
                    raise
                time.sleep(2.0 * attempt)
        raise AssertionError("unreachable")

    def get(self) -> RayCluster:
        return clusters.get(self.client, self.name, self.namespace)

    def scale(self, workers: int, group: str | None = None, wait: bool = True, timeout: float = 300) -> RayCluster:
        """Set the worker count; with ``wait``, until that many workers are ready."""
        clusters.scale(self.client, self.name, workers, group, self.namespace)
        if not wait:
            return self.get()
        return clusters.wait_workers(self.client, self.name, self.namespace, workers, timeout)


@contextmanager
def cluster(name: str, workers: int = 1, cpus: float | str = 1, memory: str = "2Gi", *,
            namespace: str | None = None, client: Client | None = None, keep: bool = False, reuse: bool = False,
            timeout: float = 300, progress: bool | None = None, **shape: Any) -> Iterator[Session]:
    """A RayCluster that exists for the ``with`` block; ``shape`` takes the other :class:`ClusterShape` fields."""
    client = client or Client.connect(namespace=namespace)
    ns = client.ns(namespace)
    spec = build_spec(ClusterShape(workers=workers, cpus=cpus, memory=memory, **shape))
    created = False
    try:
        clusters.create(client, name, spec, ns)
        created = True
    except errors.Conflict:
        if not reuse:
            raise
    try:
        with Progress(f"RayCluster {ns}/{name}", rich=progress, quiet=progress is False) as p:
            clusters.wait_ready(client, name, ns, timeout, p)
        yield Session(client, name, ns, clusters.locate(client, name, ns))
    finally:
        if created and not keep:
            clusters.delete(client, name, ns)
