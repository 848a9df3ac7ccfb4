"""Build a RayCluster spec from a few numbers, the way ``kubectl ray create cluster`` does from its flags.

Pure. The result is the project's typed :class:`RayClusterSpec` (validated by the same model the operator uses), so
a typo in a field is an error here, not a silently ignored key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rayop.api.raycluster import RayClusterSpec

DEFAULT_RAY_VERSION = "2.60.0"
HEAD_PORTS = [{"containerPort": 6379, "name": "gcs-server"}, {"containerPort": 8265, "name": "dashboard"},
              {"containerPort": 10001, "name": "client"}]


@dataclass
class ClusterShape:
    """What a user states about a cluster; everything else takes KubeRay's defaults."""

    workers: int = 1
    cpus: float | str = 1
    memory: str = "2Gi"
    gpus: int = 0
    head_cpus: float | str = 1
    head_memory: str = "2Gi"
    head_gpus: int = 0
    ray_version: str = DEFAULT_RAY_VERSION
    image: str | None = None
    group: str = "workergroup"
    min_workers: int | None = None
    max_workers: int | None = None
    head_node_selector: dict[str, str] = field(default_factory=dict)
    worker_node_selector: dict[str, str] = field(default_factory=dict)
    head_ray_start_params: dict[str, str] = field(default_factory=dict)
    worker_ray_start_params: dict[str, str] = field(default_factory=dict)


def _resources(cpus: float | str, memory: str, gpus: int = 0) -> dict[str, Any]:
    requests: dict[str, Any] = {"cpu": str(cpus), "memory": memory}
    limits: dict[str, Any] = {"cpu": str(cpus), "memory": memory}
    if gpus:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(gpus)
    return {"requests": requests, "limits": limits}


def _pod(container: str, image: str, resources: dict[str, Any], selector: dict[str, str],
         ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": container, "image": image, "resources": resources}
    if ports:
        c["ports"] = ports
    spec: dict[str, Any] = {"containers": [c]}
    if selector:
        spec["nodeSelector"] = dict(selector)
    return {"spec": spec}


def build_spec(shape: ClusterShape) -> RayClusterSpec:
    """A head and one worker group sized by ``shape``."""
    image = shape.image or f"rayproject/ray:{shape.ray_version}"
    worker_group: dict[str, Any] = {
        "groupName": shape.group,
        "replicas": shape.workers,
        "minReplicas": shape.min_workers if shape.min_workers is not None else 0,
        "maxReplicas": shape.max_workers if shape.max_workers is not None else max(shape.workers, 1) * 10,
        "rayStartParams": dict(shape.worker_ray_start_params),
        "template": _pod("ray-worker", image, _resources(shape.cpus, shape.memory, shape.gpus),
                         shape.worker_node_selector),
    }
    return RayClusterSpec.model_validate({
        "rayVersion": shape.ray_version,
        "headGroupSpec": {
            "rayStartParams": dict(shape.head_ray_start_params),
            "template": _pod("ray-head", image, _resources(shape.head_cpus, shape.head_memory, shape.head_gpus),
                             shape.head_node_selector, HEAD_PORTS),
        },
        "workerGroupSpecs": [worker_group],
    })


def cluster_body(name: str, spec: RayClusterSpec, namespace: str | None = None,
                 labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta, "spec": spec.to_wire()}


def scaled_groups(spec: dict[str, Any], group: str | None, replicas: int, min_replicas: int | None = None,
                  max_replicas: int | None = None) -> list[dict[str, Any]]:
    """The workerGroupSpecs list with one group's replicas (and bounds) changed; ValueError names a bad request."""
    groups = [dict(g) for g in spec.get("workerGroupSpecs") or []]
    if not groups:
        raise ValueError("the cluster has no worker groups")
    names = [g.get("groupName") for g in groups]
    if group is None:
        if len(groups) > 1:
            raise ValueError(f"the cluster has several worker groups ({', '.join(map(str, names))}); name one")
        group = str(names[0])
    if group not in names:
        raise ValueError(f"no worker group {group!r} (groups: {', '.join(map(str, names))})")
    g = groups[names.index(group)]
    lo = min_replicas if min_replicas is not None else int(g.get("minReplicas") or 0)
    hi = max_replicas if max_replicas is not None else int(g.get("maxReplicas") or 2**31 - 1)
    if not lo <= replicas <= hi:
        raise ValueError(f"replicas {replicas} is outside [{lo}, {hi}] of group {group}; "
                         "pass min/max replicas to move the bounds")
    g.update(replicas=replicas, minReplicas=lo, maxReplicas=hi)
    return groups
