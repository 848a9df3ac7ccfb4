"""Whether a cluster's pods can still be scheduled: their requests against what the nodes have left.

Blue/green needs the new cluster beside the old one; a pending cluster that cannot fit would leave its pods
Pending for good (KubeRay #4239, #5088). This check packs the pods first-fit-decreasing onto the nodes' remaining
allocatable (allocatable minus the requests of the pods bound to them), honouring ``nodeSelector``, unschedulable
nodes and NoSchedule/NoExecute taints. It is a prediction, not the scheduler: affinity, topology spread and
priorities are not modelled, so it errs only where those rules would have refused anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rayop.api.quantity import parse_quantity

from .model import Capacity


@dataclass(frozen=True)
class PodDemand:
    """One pod to place: its summed container requests and its placement constraints."""

    name: str
    requests: Mapping[str, float]
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()


@dataclass
class NodeRoom:
    """What one node can still take."""

    name: str
    free: dict[str, float]
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, Any]] = ()
    unschedulable: bool = False


def container_requests(pod_spec: Mapping[str, Any]) -> dict[str, float]:
    """Summed requests of a pod spec's containers (a limit stands for an unset request, as the API server does),
    with ``pods: 1``; init containers count by their maximum, as the scheduler counts them."""
    total: dict[str, float] = {"pods": 1.0}
    for c in pod_spec.get("containers") or []:
        res = c.get("resources") or {}
        wanted = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        for key, value in wanted.items():
            total[key] = total.get(key, 0.0) + float(parse_quantity(value))
    for c in pod_spec.get("initContainers") or []:
        res = c.get("resources") or {}
        for key, value in {**(res.get("limits") or {}), **(res.get("requests") or {})}.items():
            total[key] = max(total.get(key, 0.0), float(parse_quantity(value)))
    return total


def node_room(node: Mapping[str, Any], bound_pods: Sequence[Mapping[str, Any]]) -> NodeRoom:
    """A node's allocatable minus the requests of the non-terminated pods bound to it."""
    status = node.get("status") or {}
    free = {k: float(parse_quantity(v)) for k, v in (status.get("allocatable") or {}).items()}
    for pod in bound_pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for key, value in container_requests(pod.get("spec") or {}).items():
            free[key] = free.get(key, 0.0) - value
    spec = node.get("spec") or {}
    meta = node.get("metadata") or {}
    return NodeRoom(meta.get("name", ""), free, meta.get("labels") or {}, spec.get("taints") or [],
                    bool(spec.get("unschedulable")))


def _tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _accepts(node: NodeRoom, pod: PodDemand) -> bool:
    if node.unschedulable or any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        return False
    blocking = [t for t in node.taints if t.get("effect") in ("NoSchedule", "NoExecute")]
    if not all(_tolerates(pod.tolerations, t) for t in blocking):
        return False
    return all(node.free.get(k, 0.0) >= v - 1e-9 for k, v in pod.requests.items() if v > 0)


def check(pods: Sequence[PodDemand], nodes: Sequence[NodeRoom]) -> Capacity:
    """Whether every pod fits; the message names the first that does not and what it asked for."""
    rooms = [NodeRoom(n.name, dict(n.free), n.labels, n.taints, n.unschedulable) for n in nodes]
    order = sorted(pods, key=lambda p: (-p.requests.get("cpu", 0.0), -p.requests.get("memory", 0.0), p.name))
    for pod in order:
        node = next((n for n in rooms if _accepts(n, pod)), None)
        if node is None:
            asked = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(pod.requests.items()) if k != "pods")
            where = f" on nodes matching {dict(pod.node_selector)}" if pod.node_selector else ""
            return Capacity(False, f"pod {pod.name} ({asked}) fits on no node{where}; the new cluster's "
                                   f"{len(pods)} pods do not fit beside the running ones")
        for key, value in pod.requests.items():
            node.free[key] = node.free.get(key, 0.0) - value
    return Capacity(True, f"the new cluster's {len(pods)} pods fit")


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
