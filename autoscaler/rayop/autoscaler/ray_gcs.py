"""Demand, idleness and draining through the local GCS, the way Ray's v2 autoscaler does it.

One RPC, ``GcsClient.get_cluster_resource_state()`` (GCS ``AutoscalerStateService.GetClusterResourceState``), gives
the ``ClusterResourceState`` proto: live nodes with their ``instance_id`` (= pod name, from
``RAY_CLOUD_INSTANCE_ID``), ``ray_node_type_name`` (= group, from ``RAY_NODE_TYPE_NAME``), total/available resources,
status and ``idle_duration_ms``; pending tasks/actors by shape; pending placement groups (``details`` is
``<pg_id>:<strategy>|<state>``; STRICT_PACK also shows as affinity and STRICT_SPREAD as anti-affinity constraints);
and ``request_resources`` constraints. Removal goes through ``GcsClient.drain_node`` with
``DRAIN_NODE_REASON_IDLE_TERMINATION``, like Ray's ``RayStopper``.

:class:`Gcs` is the protocol the loop uses; :class:`RayGcs` is the real client (imports Ray lazily, so the planner
and its tests never need Ray). Unit tests use an in-memory fake; the ``ray``-marked test runs against a real GCS.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from rayop.api import labels as L
from rayop.autoscaler.state import PlacementGroupDemand, RayNode, Resources

HEAD_GROUP = L.HEAD_GROUP
#: Upper bound of bundles expanded from one shape (``count`` can be huge for big task backlogs).
MAX_BUNDLES_PER_SHAPE = 1000
_STATUS = {0: "UNSPECIFIED", 1: "RUNNING", 2: "DEAD", 3: "IDLE", 4: "DRAINING"}
_STRATEGIES = ("STRICT_SPREAD", "STRICT_PACK", "SPREAD", "PACK")
#: Resources that differ between total and available without any work running (objects, implicit node:* ones).
_NOT_WORK = ("object_store_memory",)


@dataclass
class GcsSnapshot:
    """What one ``get_cluster_resource_state`` call tells the planner."""

    nodes: list[RayNode] = field(default_factory=list)
    pending_tasks: list[Resources] = field(default_factory=list)
    placement_groups: list[PlacementGroupDemand] = field(default_factory=list)
    constraints: list[Resources] = field(default_factory=list)
    session_name: str = ""


class Gcs(Protocol):
    """The two GCS operations the autoscaler needs."""

    def resource_state(self) -> GcsSnapshot: ...

    def drain_node(self, node_id: str, reason: str, deadline_s: float) -> tuple[bool, str]:
        """Ask GCS to drain a node for idle termination; returns (accepted, rejection message)."""
        ...


def _bundle(resources: Any) -> Resources:
    return {str(k): float(v) for k, v in dict(resources).items() if float(v) > 0}


def _is_work(key: str) -> bool:
    return key not in _NOT_WORK and not key.startswith("node:")


def node_is_busy(status: str, idle_ms: int, total: Resources, available: Resources) -> bool:
    """A node holds running work unless GCS reports it idle and all its resources are free.

    Running tasks and actors hold a worker lease (the raylet's idle clock stays at 0 even for actors with 0 CPUs);
    placement-group bundles reserve resources, so available < total.
    """
    if idle_ms <= 0 or status == "RUNNING":
        return True
    return any(available.get(k, 0.0) + 1e-9 < v for k, v in total.items() if _is_work(k))


def _strategy(gang: Any) -> str:
    details = str(getattr(gang, "details", "") or "")
    if ":" in details and "|" in details:
        candidate = details.split(":", 1)[1].split("|", 1)[0]
        if candidate in _STRATEGIES:
            return candidate
    requests = list(gang.requests)
    for req in requests:
        for constraint in req.placement_constraints:
            if constraint.HasField("anti_affinity"):
                return "STRICT_SPREAD"
            if constraint.HasField("affinity"):
                return "STRICT_PACK"
    return "PACK"


def parse_resource_state(proto: Any, head_pod_name: str | None = None) -> GcsSnapshot:
    """Turn a ``ray.rpc.autoscaler.ClusterResourceState`` into a :class:`GcsSnapshot` (DEAD nodes dropped)."""
    snap = GcsSnapshot(session_name=str(proto.cluster_session_name))
    for ns in proto.node_states:
        status = _STATUS.get(int(ns.status), "UNSPECIFIED")
        if status == "DEAD":
            continue
        total, available = _bundle(ns.total_resources), _bundle(ns.available_resources)
        idle_ms = int(ns.idle_duration_ms)
        group = str(ns.ray_node_type_name)
        instance = str(ns.instance_id)
        snap.nodes.append(RayNode(
            node_id=bytes(ns.node_id).hex(),
            pod_name=instance,
            group=group,
            total=total,
            available=available,
            idle_s=idle_ms / 1000.0,
            status=status,
            busy=node_is_busy(status, idle_ms, total, available),
            is_head=group == HEAD_GROUP or (head_pod_name is not None and instance == head_pod_name),
        ))
    for by_count in proto.pending_resource_requests:
        bundle = _bundle(by_count.request.resources_bundle)
        snap.pending_tasks.extend([bundle] * min(int(by_count.count), MAX_BUNDLES_PER_SHAPE))
    for gang in proto.pending_gang_resource_requests:
        requests = (list(gang.bundle_selectors[0].resource_requests) if len(gang.bundle_selectors)
                    else list(gang.requests))
        details = str(gang.details or "")
        snap.placement_groups.append(PlacementGroupDemand(
            bundles=tuple(_bundle(r.resources_bundle) for r in requests),
            strategy=_strategy(gang),
            name=details.split(":", 1)[0][:12] if ":" in details else "",
        ))
    for constraint in proto.cluster_resource_constraints:
        for by_count in constraint.resource_requests:
            bundle = _bundle(by_count.request.resources_bundle)
            snap.constraints.extend([bundle] * min(int(by_count.count), MAX_BUNDLES_PER_SHAPE))
    return snap


class RayGcs:
    """The real GCS, through ``ray._raylet.GcsClient`` (what ``ray.autoscaler.v2.sdk`` uses)."""

    def __init__(self, address: str, head_pod_name: str | None = None, timeout_s: float = 10.0) -> None:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]

        self.address = address
        self.head_pod_name = head_pod_name
        self.timeout_s = timeout_s
        self._client = GcsClient(address=address)

    def resource_state(self) -> GcsSnapshot:
        from ray.autoscaler.v2.sdk import get_cluster_resource_state

        return parse_resource_state(get_cluster_resource_state(self._client), self.head_pod_name)

    def drain_node(self, node_id: str, reason: str, deadline_s: float) -> tuple[bool, str]:
        from ray.core.generated.autoscaler_pb2 import DrainNodeReason  # type: ignore[attr-defined]

        deadline_ms = int(deadline_s * 1000) if deadline_s > 0 else 0
        accepted, message = self._client.drain_node(
            node_id, DrainNodeReason.Value("DRAIN_NODE_REASON_IDLE_TERMINATION"), reason, deadline_ms)
        return bool(accepted), str(message or "")


def _port_open(address: str, timeout_s: float = 2.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def wait_for_gcs(address: str, timeout_s: float, sleep_s: float = 2.0) -> bool:
    """Poll until GCS answers (the head may still be starting, or restarting); ``timeout_s <= 0`` waits forever.

    A cheap TCP probe comes first: ``GcsClient`` itself blocks for tens of seconds when nothing listens yet, which
    would delay the first pass well past the head's start.
    """
    from ray._raylet import GcsClient  # type: ignore[attr-defined]

    deadline = time.monotonic() + timeout_s if timeout_s > 0 else float("inf")
    while True:
        try:
            if not _port_open(address):
                raise ConnectionError(f"nothing listens on {address} yet")
            client = GcsClient(address=address)
            client.get_cluster_resource_state()
            return True
        except Exception:
            if time.monotonic() > deadline:
                return False
            time.sleep(sleep_s)
