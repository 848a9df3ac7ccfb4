"""How the operator reaches a RayJob's head: the head Service's DNS name when it runs in the cluster, the head pod's
IP otherwise, logged once per cluster. KubeRay v1.5.0 run on a host polled
``<cluster>-head-svc.<ns>.svc.cluster.local:8265``, a name only cluster DNS resolves, and reported a job that had
succeeded as Failed; rayop picks an address that works from where it runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rayop.kube.informer import Informer

from .dashboard import DashboardAddress, dashboard_base_url

if TYPE_CHECKING:
    from rayop.operator.runtime.runner import Context

logger = logging.getLogger("rayop.rayjob.reach")
_logged: set[tuple[str, str, str]] = set()


def dashboard_target(ctx: Context, cluster: dict[str, Any], pods: Informer) -> DashboardAddress | None:
    """The dashboard URL of ``cluster``'s head, or None while it has no address yet."""
    meta, status = cluster["metadata"], cluster.get("status") or {}
    head = status.get("head") or {}
    port = int((status.get("endpoints") or {}).get("dashboard", 8265))
    mode = ctx.settings.rayjob.dashboard_address
    in_cluster = ctx.client.conn.in_cluster if mode == "auto" else mode == "service"
    service = head.get("serviceName")
    domain = ctx.settings.raycluster.cluster_domain
    pod_ip = head.get("podIP")
    if pod_ip is None:
        heads = [p for p in pods.by_index(meta["namespace"], meta["name"], "ray.io/cluster")
                 if (p.get("metadata", {}).get("labels") or {}).get("ray.io/node-type") == "head"]
        pod_ip = (heads[0].get("status") or {}).get("podIP") if heads else None
    if (in_cluster and not service) or (not in_cluster and not pod_ip):
        return None
    target = dashboard_base_url(in_cluster=in_cluster, service_dns=f"{service}.{meta['namespace']}.svc.{domain}"
                                if service else None, head_pod_ip=pod_ip, port=port)
    if target is None:
        return None
    key = (meta["namespace"], meta["name"], target.via)
    if key not in _logged:
        _logged.add(key)
        logger.info("reaching the dashboard of RayCluster %s/%s at %s (%s)", meta["namespace"], meta["name"],
                    target.url, target.via)
    return target
