"""The RayCluster's GCS fault tolerance: the glue between the controller and :mod:`rayop.gcs_ha`.

Three jobs, none of which does Redis I/O inside a pass: (1) a Redis probe per FT cluster on the runtime's Poller,
reported as the ``RedisReachable`` condition (+ a Warning event when it fails); (2) the ``HeadRecovery`` condition
and events from the observed head pod; (3) on deletion, KubeRay's finalizer ``ray.io/gcs-ft-redis-cleanup-finalizer``
held by the runtime: delete the pods, wait for the head to be gone, delete the keys from the operator (a OneShot
call per attempt, retried with backoff) and always let the finalizer go by ``ray.io/gcs-ft-deletion-timeout``.
Clusters KubeRay created carry the same finalizer and go through the same path, so they are never stuck.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from rayop.api import labels as L
from rayop.api.raycluster import RayCluster
from rayop.gcs_ha import deletion, probe, recovery
from rayop.gcs_ha.address import RedisConfigError, RedisTarget, redis_settings
from rayop.gcs_ha.cleanup import cleanup_cluster
from rayop.gcs_ha.credentials import KubeReader
from rayop.gcs_ha.registry import Registration
from rayop.gcs_ha.store import RedisFailure, RedisStore
from rayop.operator.builders import gcs_ft
from rayop.operator.runtime.controller import Key, Result
from rayop.operator.runtime.finalizers import seconds_since_deletion
from rayop.operator.runtime.oneshot import OneShot
from rayop.operator.runtime.poller import Poller
from rayop.operator.runtime.runner import Context

from . import children as C
from .gcs_sweep import OrphanSweeper
from .observed import PodView

logger = logging.getLogger("rayop.raycluster.gcs")
FINALIZER = L.GCS_FT_REDIS_CLEANUP_FINALIZER
CLEANUP = "redis-cleanup"
#: The runtime's own deadline sits this far behind the annotation's, so the kind's ForceDeletedStuckCluster event
#: (naming the namespace) is the one users see; the runtime's is only a backstop.
BACKSTOP_SECONDS = 30.0


def ft_enabled(body: dict[str, Any]) -> bool:
    """FT from the raw body (the finalizer decision must not depend on the spec parsing)."""
    annotations = body.get("metadata", {}).get("annotations") or {}
    return (str(annotations.get(L.FT_ENABLED, "")).lower() == "true"
            or (body.get("spec") or {}).get("gcsFaultToleranceOptions") is not None)


def _backend(body: dict[str, Any]) -> str:
    return str(((body.get("spec") or {}).get("gcsFaultToleranceOptions") or {}).get("backend") or "redis")


class GcsFaultTolerance:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.gcs_ha
        self.probes: Poller[probe.ProbeOutcome] = Poller(self._wake, max_in_flight=8)
        self.probes.start()
        self.calls = OneShot(ctx.wake, max_in_flight=8, timeout=self.settings.probe_timeout_seconds * 4)
        #: (failed attempts, monotonic time of the last failure) per deleting cluster; lost on restart (harmless:
        #: the deadline is counted from deletionTimestamp, on the object).
        self.attempts: dict[Key, tuple[int, float]] = {}
        self.reader = KubeReader(ctx.client, route_services=not ctx.client.conn.in_cluster)
        #: Every Redis a probe reached, for the optional periodic orphan sweep (:mod:`.gcs_sweep`).
        self.reached: set[RedisTarget] = set()
        self.sweeper = OrphanSweeper(ctx, self.reached, self._store)

    def _wake(self, key: object) -> None:
        if isinstance(key, tuple) and len(key) == 2:
            self.ctx.wake((str(key[0]), str(key[1])))

    def _store(self, target: RedisTarget) -> RedisStore:
        return RedisStore(target, timeout=self.settings.probe_timeout_seconds, ca_file=self.settings.redis_ca_file)

    # -- finalizer ------------------------------------------------------------------------------------------------
    def finalizer_for(self, body: dict[str, Any]) -> str | None:
        """Held by Redis-backed FT clusters (when cleanup is on) and by any cluster that already carries it
        (KubeRay's clusters, or FT turned off later), so it is always released."""
        has = FINALIZER in (body.get("metadata", {}).get("finalizers") or [])
        wanted = self.settings.enable_redis_cleanup and ft_enabled(body) and _backend(body) == "redis"
        return FINALIZER if has or wanted else None

    def finalizer_deadline(self, body: dict[str, Any], default: float) -> float:
        return deletion.deletion_timeout(body.get("metadata", {}).get("annotations") or {}) + BACKSTOP_SECONDS

    # -- probe and conditions ------------------------------------------------------------------------------------
    def observe(self, cluster: RayCluster) -> None:
        """Keep the cluster's Redis probe registered (cheap, idempotent)."""
        key = (cluster.namespace, cluster.name)
        options = cluster.spec.gcs_fault_tolerance_options
        if not gcs_ft.is_gcs_ft_enabled(cluster) or (options is not None and options.backend == "rocksdb"):
            self.probes.forget(key)
            return
        settings = redis_settings(cluster)
        registration = Registration(gcs_ft.external_storage_namespace(cluster), cluster.namespace, cluster.name,
                                    cluster.uid, str(cluster.metadata.get("creationTimestamp", "")))
        self.sweeper.start()
        self.probes.ensure(key, lambda: probe.probe(settings, registration, self.reader, self._store,
                                                    self.reached.add),
                           interval=self.settings.probe_interval_seconds,
                           timeout=self.settings.probe_timeout_seconds * 3)

    def conditions(self, cluster: RayCluster, pods: list[PodView], previous: dict[str, Any],
                   now: str) -> tuple[list[dict[str, Any]], list[recovery.Event]]:
        """The ``RedisReachable`` and ``HeadRecovery`` conditions of an FT cluster and the events of changes."""
        if not gcs_ft.is_gcs_ft_enabled(cluster):
            return [], []
        generation = int(cluster.metadata.get("generation", 0) or 0)
        prev = {c["type"]: c for c in previous.get("conditions", []) or []}
        out, events = [], []
        latest = self.probes.latest((cluster.namespace, cluster.name))
        outcome = latest.value if latest is not None else None
        reach = probe.reachable_condition(outcome, generation, now, prev)
        if reach is not None:
            out.append(reach)
            old = prev.get(probe.REDIS_REACHABLE)
            if outcome is not None and not outcome.ok and (old is None or old.get("reason") != outcome.reason):
                events.append(recovery.Event(True, outcome.reason, outcome.message))
        head = next((p for p in pods if p.node_type == L.NODE_TYPE_HEAD and not p.deleting), None)
        cond, event = recovery.recovery_condition(
            head_name=head.name if head else None, head_ready=bool(head and head.running_and_ready),
            previous=prev, previous_head=(previous.get("head") or {}).get("podName"),
            storage_namespace=gcs_ft.external_storage_namespace(cluster), generation=generation, now=now,
            head_created=head.created if head else None)
        if cond is not None:
            out.append(cond)
        if event is not None:
            events.append(event)
        return out, events

    def emit(self, body: dict[str, Any], events: list[recovery.Event]) -> None:
        for e in events:
            (self.ctx.events.warning if e.warning else self.ctx.events.normal)(body, e.reason, e.message)

    # -- deletion ------------------------------------------------------------------------------------------------
    async def finalize(self, body: dict[str, Any]) -> Result:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if not (self.settings.enable_redis_cleanup and ft_enabled(body) and _backend(body) == "redis"):
            return Result.done()  # a stale finalizer (cleanup off, FT off, rocksdb): released at once
        try:
            cluster = RayCluster.parse(body)
        except ValueError as exc:
            self.ctx.events.warning(body, "ForceDeletedStuckCluster",
                                    f"Removed GCS FT finalizer: the spec cannot be read ({exc}); Redis keys of "
                                    f"this cluster may need manual cleanup")
            return Result.done()
        storage_ns = gcs_ft.external_storage_namespace(cluster)
        pods = [PodView.from_pod(p) for p in (await self.ctx.cache(C.PODS)).by_index(*key)]
        outcome = self.calls.outcome(key, CLEANUP)
        failures, failed_at = self.attempts.get(key, (0, 0.0))
        if outcome is not None and not outcome.ok:
            failures, failed_at = failures + 1, time.monotonic()
            self.attempts[key] = (failures, failed_at)
            self.calls.clear(key, CLEANUP)
            if failures == 1:
                self.ctx.events.warning(body, "RedisCleanupFailed",
                                        f"Deleting the keys of Redis storage namespace {storage_ns!r} failed "
                                        f"(retrying until the deletion timeout): {outcome.error}")
        view = deletion.DeletionView(
            elapsed=seconds_since_deletion(body, dt.datetime.now(dt.UTC)),
            deadline=deletion.deletion_timeout(meta.get("annotations") or {}),
            pods_to_delete=tuple(p.name for p in pods if not p.deleting),
            head_present=any(p.node_type == L.NODE_TYPE_HEAD for p in pods),
            cleaned=None if outcome is None or not outcome.ok else True,
            cleanup_running=self.calls.running(key, CLEANUP), attempts=failures,
            since_last_failure=time.monotonic() - failed_at if failures else None)
        step = deletion.next_step(view)
        if step.kind == "done":
            self.ctx.events.normal(body, "RedisCleanupSucceeded",
                                   f"Deleted {outcome.value if outcome else 0} keys of Redis storage namespace "
                                   f"{storage_ns!r}")
            self._forget(key)
            return Result.done()
        if step.kind == "force-remove":
            self.ctx.events.warning(body, "ForceDeletedStuckCluster",
                                    deletion.force_removed_message(view.elapsed, storage_ns))
            self._forget(key)
            return Result.done()
        if step.kind == "delete-pods":
            for name in step.pods:
                try:
                    await self.ctx.client.delete("v1", "pods", name, key[0])
                except Exception as exc:  # NotFound or a transient error: the next pass looks again
                    logger.debug("deleting pod %s/%s: %s", key[0], name, exc)
        elif step.kind == "cleanup":
            settings = redis_settings(cluster)
            self.calls.start(key, CLEANUP, lambda: self._cleanup(settings, key[0], storage_ns))
        return Result.requeue(step.after)

    async def _cleanup(self, settings: Any, namespace: str, storage_ns: str) -> int:
        try:
            return await cleanup_cluster(settings, namespace, storage_ns, self.reader, self._store)
        except (RedisConfigError, RedisFailure) as exc:
            raise RuntimeError(exc.message) from exc

    def _forget(self, key: Key) -> None:
        self.attempts.pop(key, None)
        self.calls.forget(key)

    def forget(self, key: Key) -> None:
        self.probes.forget(key)
        self._forget(key)

    async def close(self) -> None:
        await self.sweeper.close()
        await self.probes.close()
        await self.calls.close()
