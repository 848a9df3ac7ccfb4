"""One autoscaling pass (read CR + pods + GCS, decide, drain, patch, explain) and the loop that repeats it.

Nothing needed for correctness lives only in memory: capacity already asked for is read back from the CR and the
pods, blocked groups from an annotation, and a node drained just before a crash shows up as DRAINING and is
removed on the next pass without a second drain. A failed resourceVersion test skips the pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from rayop.api.raycluster import RayCluster
from rayop.autoscaler import kube_io
from rayop.autoscaler.policy import decide
from rayop.autoscaler.ray_gcs import Gcs, GcsSnapshot
from rayop.autoscaler.state import (
    DEFAULT_BLOCK_S,
    DEFAULT_UNSCHEDULABLE_BOUND_S,
    ClusterState,
    Decision,
    GroupShapeError,
    GroupTarget,
    group_shapes,
    upscaling_mode,
)
from rayop.kube.client import ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopConfig:
    period_s: float = 5.0
    unschedulable_bound_s: float = DEFAULT_UNSCHEDULABLE_BOUND_S
    block_s: float = DEFAULT_BLOCK_S
    #: Passed to GCS DrainNode; 0 = no deadline (what Ray's autoscaler sends).
    drain_deadline_s: float = 0.0


def build_state(cluster: dict[str, Any], pods: list[dict[str, Any]], snap: GcsSnapshot, config: LoopConfig,
                ) -> ClusterState:
    """The planner's input from the raw CR, pod list and GCS snapshot."""
    workers = [p for p in (kube_io.worker_pod(o) for o in pods) if p is not None]
    rc = RayCluster.parse(cluster)  # once per pass, for both the groups and the upscaling mode
    return ClusterState(
        groups=group_shapes(rc),
        nodes=tuple(snap.nodes),
        pods=tuple(workers),
        pending_tasks=tuple(snap.pending_tasks),
        placement_groups=tuple(snap.placement_groups),
        constraints=tuple(snap.constraints),
        upscaling_mode=upscaling_mode(rc),
        unschedulable_bound_s=config.unschedulable_bound_s,
        block_s=config.block_s,
        blocked_until=kube_io.blocked_groups(cluster),
    )


def keep_pods(decision: Decision, state: ClusterState, pod_names: set[str]) -> Decision:
    """The decision without removing ``pod_names`` (their drain was rejected: the node is busy again)."""
    if not pod_names:
        return decision
    targets = {}
    by_name = {g.name: g for g in state.groups}
    for name, target in decision.targets.items():
        kept = [p for p in target.workers_to_delete if p in pod_names and p not in by_name[name].workers_to_delete]
        hosts = by_name[name].num_of_hosts
        targets[name] = GroupTarget(
            replicas=target.replicas + -(-len(kept) // hosts),
            workers_to_delete=tuple(p for p in target.workers_to_delete if p not in kept))
    return replace(decision, targets=targets, drain=[n for n in decision.drain if n.pod_name not in pod_names])


class Metrics:
    """Prometheus metrics if prometheus_client is installed (it comes with ray[default]); no-ops otherwise."""

    def __init__(self, port: int) -> None:
        self.enabled = False
        try:
            import prometheus_client as prom
        except ImportError:
            return
        registry = prom.CollectorRegistry()
        self.pending = prom.Gauge("rayop_autoscaler_pending_demand", "Pending bundles by kind", ["kind"],
                                  registry=registry)
        self.unsatisfiable = prom.Gauge("rayop_autoscaler_unsatisfiable_demand",
                                        "Demand lines no group can serve", registry=registry)
        self.target = prom.Gauge("rayop_autoscaler_target_replicas", "Target replicas", ["group"],
                                 registry=registry)
        self.decisions = prom.Counter("rayop_autoscaler_decisions", "Scale decisions applied", ["kind"],
                                      registry=registry)
        self.drain = prom.Histogram("rayop_autoscaler_drain_seconds", "Time of a GCS DrainNode call",
                                    registry=registry)
        self.errors = prom.Counter("rayop_autoscaler_errors", "Failed passes", ["stage"], registry=registry)
        if port:
            prom.start_http_server(port, registry=registry)
        self.enabled = True

    def observe(self, state: ClusterState, decision: Decision) -> None:
        if not self.enabled:
            return
        self.pending.labels("tasks").set(len(state.pending_tasks))
        self.pending.labels("placement_groups").set(len(state.placement_groups))
        self.pending.labels("constraints").set(len(state.constraints))
        self.unsatisfiable.set(len(decision.unsatisfiable))
        for name, target in decision.targets.items():
            self.target.labels(name).set(target.replicas)

    def count(self, kind: str) -> None:
        if self.enabled:
            self.decisions.labels(kind).inc()

    def error(self, stage: str) -> None:
        if self.enabled:
            self.errors.labels(stage).inc()

    def drained(self, seconds: float) -> None:
        if self.enabled:
            self.drain.observe(seconds)


async def run_once(kube: kube_io.KubeIO, gcs: Gcs, config: LoopConfig, metrics: Metrics,
                   now: float | None = None) -> Decision:
    """One pass; returns the decision as applied (drains that GCS rejected are taken out)."""
    now = time.time() if now is None else now
    cluster = await kube.get_cluster()
    pods = await kube.list_pods()
    try:
        state = build_state(cluster, pods, await asyncio.to_thread(gcs.resource_state), config)
    except GroupShapeError as exc:
        # A spec this autoscaler cannot read: say so on the RayCluster (once, like every decision) and scale nothing.
        decision = Decision(reasons=[f"cannot autoscale: {exc}"], blocked_until=kube_io.blocked_groups(cluster))
        await _explain(kube, cluster, decision, now)
        return decision
    decision = decide(state, now)

    rejected: set[str] = set()
    for node in decision.drain:
        start = time.monotonic()
        why = f"idle termination by rayop autoscaler: idle {node.idle_s:.0f}s"
        deadline = now + config.drain_deadline_s if config.drain_deadline_s > 0 else 0.0
        try:
            accepted, message = await asyncio.to_thread(gcs.drain_node, node.node_id, why, deadline)
        except Exception as exc:  # GCS unreachable: keep the node this pass
            accepted, message = False, str(exc)
        metrics.drained(time.monotonic() - start)
        if not accepted:
            log.info("drain of %s (%s) rejected: %s; keeping it", node.pod_name, node.node_id, message)
            rejected.add(node.pod_name)
    decision = keep_pods(decision, state, rejected)

    patch = kube_io.build_scale_patch(cluster, state.groups, decision)
    if patch:
        try:
            await kube.patch_scale(patch)
        except ApiError as exc:
            if exc.status in (409, 422):
                log.info("RayCluster changed since it was read (%s); deciding again next pass", exc.message)
                return decision
            raise
        for line in decision.reasons:
            metrics.count(kube_io.event_reason(line)[0])
        log.info("applied %s", patch)
    metrics.observe(state, decision)

    await _explain(kube, cluster, decision, now)
    return decision


async def _explain(kube: kube_io.KubeIO, cluster: dict[str, Any], decision: Decision, now: float) -> None:
    """New reasons become events; the decision (and blocked groups) go to the annotations when they changed."""
    previous = kube_io.last_reasons(cluster)
    if decision.reasons != previous:
        for line in decision.reasons:
            log.info("%s", line)
        await kube.emit(cluster, [r for r in decision.reasons if r not in previous], now)
    annotations = kube_io.build_annotations(decision, now)
    current = (cluster.get("metadata") or {}).get("annotations") or {}
    if decision.reasons != previous or any(current.get(k) != v for k, v in annotations.items()
                                           if k != kube_io.LAST_DECISION_ANNOTATION):
        try:
            await kube.annotate(annotations)
        except ApiError as exc:
            log.warning("could not record the decision annotation: %s", exc)


async def run_forever(kube: kube_io.KubeIO, gcs: Gcs, config: LoopConfig, metrics: Metrics,
                      stop: asyncio.Event | None = None) -> None:
    """Repeat :func:`run_once` every ``period_s``; errors (API server, GCS restarts) are logged and retried."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await run_once(kube, gcs, config, metrics)
        except Exception:
            log.exception("autoscaler pass failed; retrying in %.0fs", config.period_s)
            metrics.error("pass")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=config.period_s)
