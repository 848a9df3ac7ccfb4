"""What a RayService pass reads, turned into the rollout's typed inputs (pure: dicts in, dataclasses out).

Every value comes from an object: a cluster's spec hash and worker-group count from KubeRay's annotations, the serve
config applied to it and its drain deadline from rayop's annotations, head readiness from the pod cache, the Serve
state from the poller. So a restarted operator reconstructs exactly the view the previous one had.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from rayop.api import labels as L
from rayop.api.raycluster import RayClusterSpec
from rayop.api.rayservice import RayService
from rayop.operator.builders.rayservice import DELETE_AFTER, SERVE_CONFIG_APPLYING, SERVE_CONFIG_HASH
from rayop.serve_rollout.capacity import PodDemand, container_requests
from rayop.serve_rollout.hashing import cluster_hash, prefix_hashes, serve_config_hash
from rayop.serve_rollout.model import ClusterView, Desired

from .serve_api import ServeState

#: Annotation on the RayService: the goal (cluster hash / serve-config hash) of the last abandoned upgrade.
ABANDONED = "rayop.io/abandoned-upgrade"
#: Annotation on the RayService: seconds the pending cluster of an upgrade has to serve (default: the setting).
UPGRADE_TIMEOUT = "rayop.io/upgrade-timeout-seconds"
#: Resources of the autoscaler sidecar the pod builder adds (KubeRay's, requests = limits).
AUTOSCALER_REQUESTS = {"cpu": 0.5, "memory": 512 * 1024 * 1024}


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def head_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    heads = [p for p in pods if (p.get("metadata", {}).get("labels") or {}).get(L.RAY_NODE_TYPE) == L.NODE_TYPE_HEAD
             and not p.get("metadata", {}).get("deletionTimestamp")]
    return heads[0] if heads else None


def pod_ready(pod: Mapping[str, Any] | None) -> bool:
    if pod is None:
        return False
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def cluster_view(cluster: Mapping[str, Any], pods: Sequence[Mapping[str, Any]],
                 serve: ServeState | None) -> ClusterView:
    meta = cluster.get("metadata") or {}
    ann = meta.get("annotations") or {}
    try:
        groups: int | None = int(ann[L.NUM_WORKER_GROUPS])
    except (KeyError, ValueError):
        groups = None
    head = head_pod(pods)
    return ClusterView(
        name=str(meta.get("name", "")), cluster_hash=ann.get(L.HASH_WITHOUT_REPLICAS_AND_WORKERS_TO_DELETE),
        num_worker_groups=groups, serve_config_hash=applied_config_hash(ann),
        created_at=parse_time(meta.get("creationTimestamp")), deleting=bool(meta.get("deletionTimestamp")),
        head_ready=pod_ready(head), apps=serve.app_map() if serve is not None else None,
        proxies_healthy=bool(serve and serve.proxy_healthy), ready_serve_workers=ready_serve_workers(pods),
        delete_after=parse_time(ann.get(DELETE_AFTER)))


def applied_config_hash(annotations: Mapping[str, str]) -> str | None:
    """The serve config a cluster runs, as far as its annotations prove it: None while a PUT of another config was
    started and not seen to succeed (it may or may not have landed)."""
    recorded, applying = annotations.get(SERVE_CONFIG_HASH), annotations.get(SERVE_CONFIG_APPLYING)
    return recorded if applying is None or applying == recorded else None


def ready_serve_workers(pods: Sequence[Mapping[str, Any]]) -> int:
    """Ready worker pods the serve Service selects (``ray.io/serve=true``), not being deleted."""
    return sum(1 for p in pods
               if (labels := (p.get("metadata", {}).get("labels") or {})).get(L.RAY_NODE_TYPE) == L.NODE_TYPE_WORKER
               and labels.get(L.RAY_SERVE) == L.SERVE_TRUE and not p.get("metadata", {}).get("deletionTimestamp")
               and pod_ready(p))


def upgrade_timeout(svc: RayService, default_s: float) -> float:
    text = svc.annotations.get(UPGRADE_TIMEOUT)
    try:
        value = float(text) if text else default_s
    except ValueError:
        return default_s
    return value if value > 0 else default_s


def desired_of(svc: RayService, *, default_timeout_s: float, zero_downtime_default: bool,
               gateway_available: bool) -> Desired:
    spec = svc.spec.ray_cluster_config
    return Desired(cluster_hash=cluster_hash(spec), prefix_hashes=prefix_hashes(spec),
                   serve_config_hash=serve_config_hash(svc.spec.serve_config_v2),
                   upgrade_type=svc.spec.upgrade_type(), zero_downtime_default=zero_downtime_default,
                   deletion_delay_s=float(svc.spec.deletion_delay_seconds()),
                   upgrade_timeout_s=upgrade_timeout(svc, default_timeout_s), gateway_available=gateway_available)


def _demand(name: str, template: Mapping[str, Any], extra: Mapping[str, float] | None = None) -> PodDemand:
    pod_spec = template.get("spec") or {}
    requests = container_requests(pod_spec)
    for key, value in (extra or {}).items():
        requests[key] = requests.get(key, 0.0) + value
    return PodDemand(name, requests, dict(pod_spec.get("nodeSelector") or {}), list(pod_spec.get("tolerations") or []))


def cluster_demands(spec: RayClusterSpec) -> list[PodDemand]:
    """The pods a new cluster of ``spec`` starts with: the head and each group's replicas (times numOfHosts)."""
    extra = AUTOSCALER_REQUESTS if spec.is_autoscaling_enabled() else None
    out = [_demand("head", spec.head_group_spec.template, extra)]
    for group in spec.worker_group_specs or []:
        if group.suspend:
            continue
        count = group.replicas if group.replicas is not None else (group.min_replicas or 0)
        for i in range(count * (group.num_of_hosts or 1)):
            out.append(_demand(f"{group.group_name}-{i}", group.template))
    return out
