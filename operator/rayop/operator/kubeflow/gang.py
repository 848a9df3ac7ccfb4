"""All-or-nothing start without a batch scheduler: may every gated pod of a job be placed at once? (pure)

A job's pods are created behind the scheduling gate ``rayop.io/gang`` (:mod:`.observe`); the scheduler ignores
them until the gate is removed. The controller removes every gate of a job together, and only when this check
places every one of its pods on some node: per node, allocatable minus the requests of the pods bound to it (or
admitted and not yet bound, see :class:`Reservations`), honouring ``nodeSelector``, taints (NoSchedule/NoExecute
against tolerations) and ``spec.unschedulable``. First fit, largest pod first. The check is conservative where the
scheduler has more rules (affinity, topology spread): the scheduler still places the pods; rayop only guarantees
that none starts before all can.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from rayop.api.quantity import parse_quantity

Body = dict[str, Any]
Resources = dict[str, Fraction]


def pod_requests(pod: Body) -> Resources:
    """Effective requests: the sum of the containers', at least each init container's; a pod counts 1 ``pods``."""
    spec = pod.get("spec") or {}
    assert isinstance(spec, dict)
    total: Resources = {}
    for c in spec.get("containers") or []:
        for k, v in ((c.get("resources") or {}).get("requests") or _limits_as_requests(c)).items():
            total[k] = total.get(k, Fraction(0)) + parse_quantity(v)
    for c in spec.get("initContainers") or []:
        for k, v in ((c.get("resources") or {}).get("requests") or _limits_as_requests(c)).items():
            total[k] = max(total.get(k, Fraction(0)), parse_quantity(v))
    total["pods"] = Fraction(1)
    return total


def _limits_as_requests(container: Body) -> dict[str, Any]:
    """A container with limits and no requests requests its limits (API server defaulting)."""
    res = container.get("resources") or {}
    assert isinstance(res, dict)
    return dict(res.get("limits") or {})


@dataclass
class Node:
    name: str
    labels: dict[str, str]
    taints: list[dict[str, str]]
    free: Resources


def nodes_free(nodes: Iterable[Body], bound: Iterable[Body]) -> list[Node]:
    """Schedulable nodes with allocatable minus the requests of the non-terminal pods bound to them."""
    used: dict[str, Resources] = {}
    for pod in bound:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        assert isinstance(spec, dict) and isinstance(status, dict)
        node = spec.get("nodeName")
        if not node or status.get("phase") in ("Succeeded", "Failed"):
            continue
        acc = used.setdefault(str(node), {})
        for k, v in pod_requests(pod).items():
            acc[k] = acc.get(k, Fraction(0)) + v
    out = []
    for n in nodes:
        meta, spec, status = n.get("metadata") or {}, n.get("spec") or {}, n.get("status") or {}
        assert isinstance(meta, dict) and isinstance(spec, dict) and isinstance(status, dict)
        if spec.get("unschedulable"):
            continue
        alloc = {k: parse_quantity(v) for k, v in (status.get("allocatable") or {}).items()}
        u = used.get(str(meta.get("name")), {})
        out.append(Node(str(meta.get("name")), dict(meta.get("labels") or {}), list(spec.get("taints") or []),
                        {k: v - u.get(k, Fraction(0)) for k, v in alloc.items()}))
    return out


def _tolerates(tolerations: list[dict[str, str]], taint: dict[str, str]) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def selects(pod: Body, node: Node) -> bool:
    spec = pod.get("spec") or {}
    assert isinstance(spec, dict)
    selector = spec.get("nodeSelector") or {}
    if any(node.labels.get(k) != v for k, v in selector.items()):
        return False
    tolerations = spec.get("tolerations") or []
    return all(_tolerates(tolerations, t) for t in node.taints if t.get("effect") in ("NoSchedule", "NoExecute"))


def _fits(req: Resources, node: Node) -> bool:
    return all(node.free.get(k, Fraction(0)) >= v for k, v in req.items() if v > 0)


@dataclass(frozen=True)
class Fit:
    ok: bool
    #: Why not: the first pod that no node can take, and what it needs.
    message: str = ""


def place_all(pods: list[Body], nodes: list[Node]) -> Fit:
    """First-fit-decreasing of ``pods`` onto copies of ``nodes``; all or nothing."""
    free = [Node(n.name, n.labels, n.taints, dict(n.free)) for n in nodes]
    ordered = sorted(pods, key=lambda p: -sum(v for k, v in pod_requests(p).items() if k != "pods"))
    for pod in ordered:
        req = pod_requests(pod)
        target = next((n for n in free if selects(pod, n) and _fits(req, n)), None)
        if target is None:
            meta = pod.get("metadata") or {}
            assert isinstance(meta, dict)
            wants = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(req.items()) if k != "pods")
            return Fit(False, f"{len(pods)} pods cannot all be placed: no node has room for pod "
                              f"{meta.get('name')} ({wants or 'no requests'}) after the others")
        for k, v in req.items():
            target.free[k] = target.free.get(k, Fraction(0)) - v
    return Fit(True)


def _fmt(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{float(v):g}"


@dataclass
class Reservations:
    """Pods this process admitted whose binding the cache does not show yet, so that two jobs checked one after
    the other never both take the same free capacity. Kept until the pod is bound (or gone), at most ``ttl``."""

    ttl: float = 60.0
    _pods: dict[tuple[str, str], tuple[float, Body]] = field(default_factory=dict)

    def add(self, pods: Iterable[Body]) -> None:
        now = time.monotonic()
        for p in pods:
            meta = p.get("metadata") or {}
            assert isinstance(meta, dict)
            self._pods[(str(meta.get("namespace")), str(meta.get("name")))] = (now, dict(p))

    def pending(self, bound_or_gone: set[tuple[str, str]]) -> list[Body]:
        """Admitted pods still unbound, as pods without a node (their requests still count as used)."""
        now = time.monotonic()
        self._pods = {k: v for k, v in self._pods.items() if k not in bound_or_gone and now - v[0] < self.ttl}
        return [v[1] for v in self._pods.values()]


def place_with_reserved(pods: list[Body], reserved: list[Body], nodes: list[Node]) -> Fit:
    """:func:`place_all` after first placing the already-admitted, unbound pods (they will take room somewhere)."""
    if reserved:
        first = place_all(reserved, nodes)
        if first.ok:
            nodes = _after(reserved, nodes)
    return place_all(pods, nodes)


def _after(pods: list[Body], nodes: list[Node]) -> list[Node]:
    free = [Node(n.name, n.labels, n.taints, dict(n.free)) for n in nodes]
    for pod in sorted(pods, key=lambda p: -sum(v for k, v in pod_requests(p).items() if k != "pods")):
        req = pod_requests(pod)
        target = next((n for n in free if selects(pod, n) and _fits(req, n)), None)
        if target is not None:
            for k, v in req.items():
                target.free[k] = target.free.get(k, Fraction(0)) - v
    return free
