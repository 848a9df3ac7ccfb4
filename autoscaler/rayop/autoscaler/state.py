"""What the planner sees (:class:`ClusterState`) and what it decides (:class:`Decision`), as plain dataclasses.

Also derives worker-group shapes from a RayCluster with Ray's own precedence for per-node resources
(``_get_ray_resources_from_group_spec`` in Ray's ``kuberay/autoscaling_config.py``): for CPU, GPU and memory
separately, the group's ``resources`` map wins over ``rayStartParams`` (``num-cpus``/``num-gpus``/``memory``), which
wins over container 0's limits, then requests. Custom resources come from the ``resources`` map if it is set at all,
else from ``rayStartParams["resources"]``. Quantities are rounded up, like Ray does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rayop.api.accelerators import is_gpu_resource_key
from rayop.api.quantity import QuantityError, quantity_value
from rayop.api.raycluster import RayCluster, WorkerGroupSpec
from rayop.api.types import MAX_INT32

Resources = dict[str, float]

UPSCALING_MODES = ("Conservative", "Default", "Aggressive")
#: Ray's default when ``autoscalerOptions.idleTimeoutSeconds`` is absent (``idle_timeout_minutes`` = 1.0).
DEFAULT_IDLE_TIMEOUT_S = 60.0
#: How long pods we asked for may stay Unschedulable before the request is freed and another group is tried.
DEFAULT_UNSCHEDULABLE_BOUND_S = 60.0
#: How long a group whose pods could not be scheduled is skipped for new nodes.
DEFAULT_BLOCK_S = 300.0
#: Ray resources that are never demanded by the scheduler in a way the autoscaler must satisfy.
IGNORED_RESOURCES = ("object_store_memory",)
_STANDARD = {"CPU", "GPU", "TPU", "memory"}


class GroupShapeError(ValueError):
    """A worker group whose node shape cannot be derived (no CPU count anywhere, unparsable resources)."""


@dataclass(frozen=True)
class GroupShape:
    """One worker group as the planner needs it; replica counts are in CR units (replicas, not hosts)."""

    name: str
    index: int
    resources: Resources
    min_replicas: int = 0
    max_replicas: int = MAX_INT32
    replicas: int = 0
    num_of_hosts: int = 1
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    priority: int = 0
    workers_to_delete: tuple[str, ...] = ()

    @property
    def min_nodes(self) -> int:
        return self.min_replicas * self.num_of_hosts

    @property
    def max_nodes(self) -> int:
        return self.max_replicas * self.num_of_hosts


@dataclass(frozen=True)
class RayNode:
    """A live Ray node as GCS reports it, tied to its pod by ``instance_id`` (``RAY_CLOUD_INSTANCE_ID``)."""

    node_id: str
    pod_name: str
    group: str
    total: Resources
    available: Resources
    idle_s: float = 0.0
    #: RUNNING, IDLE, DRAINING (DEAD nodes are never part of the state).
    status: str = "RUNNING"
    #: Holds running tasks, actors or placement-group bundles (never removed while true).
    busy: bool = False
    is_head: bool = False


@dataclass(frozen=True)
class WorkerPod:
    """A worker pod of the cluster (from the pod list)."""

    name: str
    group: str
    #: ``ray.io/worker-group-replica-name`` for multi-host groups.
    replica: str | None = None
    deleting: bool = False
    #: Epoch seconds since when the scheduler reports the pod Unschedulable; None if schedulable/scheduled.
    unschedulable_since: float | None = None


@dataclass(frozen=True)
class PlacementGroupDemand:
    """A pending placement group: its bundles and strategy (PACK, SPREAD, STRICT_PACK, STRICT_SPREAD)."""

    bundles: tuple[Resources, ...]
    strategy: str = "PACK"
    name: str = ""


@dataclass(frozen=True)
class ClusterState:
    """Everything :func:`rayop.autoscaler.policy.decide` reads. No I/O handles, no clocks."""

    groups: tuple[GroupShape, ...]
    nodes: tuple[RayNode, ...] = ()
    pods: tuple[WorkerPod, ...] = ()
    #: One bundle per pending task or actor.
    pending_tasks: tuple[Resources, ...] = ()
    placement_groups: tuple[PlacementGroupDemand, ...] = ()
    #: ``request_resources`` bundles: the cluster must be able to hold them at once (against totals).
    constraints: tuple[Resources, ...] = ()
    upscaling_mode: str = "Default"
    unschedulable_bound_s: float = DEFAULT_UNSCHEDULABLE_BOUND_S
    block_s: float = DEFAULT_BLOCK_S
    #: group -> epoch seconds until which it gets no new nodes (persisted in an annotation, see kube_io).
    blocked_until: Mapping[str, float] = field(default_factory=dict)


@dataclass
class GroupTarget:
    """Desired ``replicas`` and ``scaleStrategy.workersToDelete`` of one group."""

    replicas: int
    workers_to_delete: tuple[str, ...] = ()


@dataclass
class Decision:
    """The planner's output; :mod:`kube_io` turns ``targets`` into one JSON patch."""

    targets: dict[str, GroupTarget] = field(default_factory=dict)
    #: Ray nodes (by node id) to drain before their pods are listed in workersToDelete.
    drain: list[RayNode] = field(default_factory=list)
    #: Human descriptions of demand that no group can serve.
    unsatisfiable: list[str] = field(default_factory=list)
    blocked_until: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def changed_groups(self, state: ClusterState) -> list[str]:
        """Groups whose replicas or workersToDelete differ from the CR."""
        by_name = {g.name: g for g in state.groups}
        out = []
        for name, target in self.targets.items():
            group = by_name[name]
            if target.replicas != group.replicas or tuple(target.workers_to_delete) != group.workers_to_delete:
                out.append(name)
        return out


# ---------------------------------------------------------------------------------------------------------------
# Group shapes from the CR
# ---------------------------------------------------------------------------------------------------------------


def _round_up(quantity: Any) -> int:
    try:
        return quantity_value(quantity)
    except QuantityError as exc:
        raise GroupShapeError(str(exc)) from exc


def _custom_from_params(raw: str) -> dict[str, float]:
    """``'"{\\"Custom\\": 1}"'`` → ``{"Custom": 1}`` (outer quotes stripped, backslashes removed, JSON)."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    try:
        parsed = json.loads(text.replace("\\", ""))
    except ValueError as exc:
        raise GroupShapeError(f"rayStartParams resources {raw!r} is not a JSON object") from exc
    if not isinstance(parsed, dict):
        raise GroupShapeError(f"rayStartParams resources {raw!r} is not a JSON object")
    return {str(k): float(v) for k, v in parsed.items()}


def node_resources(group: dict[str, Any] | WorkerGroupSpec, group_name: str = "") -> Resources:
    """Ray resources of one node of a group, with Ray's precedence (see module docstring)."""
    spec = group.model_dump(by_alias=True) if isinstance(group, WorkerGroupSpec) else group
    name = group_name or str(spec.get("groupName") or "headgroup")
    res_map: dict[str, Any] = dict(spec.get("resources") or {})
    params: dict[str, Any] = dict(spec.get("rayStartParams") or {})
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    k8s = containers[0].get("resources") or {}
    limits, requests = dict(k8s.get("limits") or {}), dict(k8s.get("requests") or {})
    out: Resources = {}

    if "CPU" in res_map:
        out["CPU"] = _round_up(res_map["CPU"])
    elif "num-cpus" in params:
        out["CPU"] = float(params["num-cpus"])
    elif "cpu" in limits:
        out["CPU"] = _round_up(limits["cpu"])
    elif "cpu" in requests:
        out["CPU"] = _round_up(requests["cpu"])
    else:
        raise GroupShapeError(f"failed to detect CPU resources for group {name}: set rayStartParams num-cpus, "
                              "the resources map or the Ray container's cpu limit")

    if "GPU" in res_map:
        out["GPU"] = _round_up(res_map["GPU"])
    elif "num-gpus" in params:
        out["GPU"] = float(params["num-gpus"])
    else:
        for key, value in [*limits.items(), *requests.items()]:
            if is_gpu_resource_key(key) and _round_up(value) > 0:
                out["GPU"] = _round_up(value)
                break

    custom = ({k: float(_round_up(v)) for k, v in res_map.items() if k not in _STANDARD} if res_map
              else _custom_from_params(str(params["resources"])) if "resources" in params else {})
    if "TPU" in res_map:
        out["TPU"] = _round_up(res_map["TPU"])
    elif "TPU" not in custom:
        for source in (limits, requests):
            if "google.com/tpu" in source and _round_up(source["google.com/tpu"]) > 0:
                out["TPU"] = _round_up(source["google.com/tpu"])
                break

    if "memory" in res_map:
        out["memory"] = _round_up(res_map["memory"])
    elif "memory" in params:
        out["memory"] = float(params["memory"])
    elif "memory" in limits:
        out["memory"] = _round_up(limits["memory"])
    elif "memory" in requests:
        out["memory"] = _round_up(requests["memory"])

    out.update(custom)
    return {k: float(v) for k, v in out.items() if v}


def group_shapes(cluster: RayCluster | dict[str, Any]) -> tuple[GroupShape, ...]:
    """Every (non-suspended) worker group of a RayCluster as a :class:`GroupShape`."""
    rc = cluster if isinstance(cluster, RayCluster) else RayCluster.parse(cluster)
    opts = rc.spec.autoscaler_options
    cluster_idle = (float(opts.idle_timeout_seconds) if opts and opts.idle_timeout_seconds is not None
                    else DEFAULT_IDLE_TIMEOUT_S)
    shapes = []
    for index, group in enumerate(rc.spec.worker_group_specs or []):
        if group.suspend:
            continue
        hosts = group.effective_num_of_hosts()
        minimum = group.min_replicas or 0
        maximum = group.max_replicas if group.max_replicas is not None else MAX_INT32
        wtd = group.scale_strategy.workers_to_delete if group.scale_strategy else None
        shapes.append(GroupShape(
            name=group.group_name,
            index=index,
            resources=node_resources(group, group.group_name),
            min_replicas=minimum,
            max_replicas=max(maximum, minimum),
            replicas=group.replicas or 0,
            num_of_hosts=hosts,
            idle_timeout_s=(float(group.idle_timeout_seconds) if group.idle_timeout_seconds is not None
                            else cluster_idle),
            priority=group.priority or 0,
            workers_to_delete=tuple(wtd or ()),
        ))
    return tuple(shapes)


def upscaling_mode(cluster: RayCluster | dict[str, Any]) -> str:
    """``autoscalerOptions.upscalingMode`` (Default when absent)."""
    rc = cluster if isinstance(cluster, RayCluster) else RayCluster.parse(cluster)
    opts = rc.spec.autoscaler_options
    return (opts.upscaling_mode if opts and opts.upscaling_mode else "Default")


def format_resources(bundle: Mapping[str, float]) -> str:
    """``{CPU: 1, GPU: 1}``: compact, integral values without a fraction, memory in GiB when large."""
    parts = []
    for key in sorted(bundle):
        value = bundle[key]
        if key in ("memory", "object_store_memory") and value >= 2**30:
            parts.append(f"{key}: {value / 2**30:g}Gi")
        else:
            parts.append(f"{key}: {int(value) if float(value).is_integer() else round(value, 3)}")
    return "{" + ", ".join(parts) + "}"
