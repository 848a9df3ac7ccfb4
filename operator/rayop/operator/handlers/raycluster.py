"""RayCluster wiring: rayop's informers deliver RayCluster, pod and service changes, and each only wakes the
cluster's worker in the :class:`~rayop.operator.workqueue.WorkQueue`; kopf provides the process around it (login,
startup/cleanup, liveness, logging).

Why not kopf's own resource handlers: daemons would put a finalizer on every RayCluster (KubeRay has none), indexes
would cache every pod of the cluster (rayop watches only labelled Ray pods), and kopf's per-object event workers
added seconds of latency under churn (with a worker limit, clusters waited for other clusters' idle workers;
without one, the median got worse) — measured with ``benchmarks.run --scenario churn``.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from typing import Any

import kopf

from rayop.api import labels as L
from rayop.kube.informer import Informer
from rayop.operator.builders import BuildOptions
from rayop.operator.metrics import OperatorMetrics
from rayop.operator.reconcile import raycluster as rc
from rayop.operator.reconcile.events import EventRecorder
from rayop.operator.reconcile.observed import slim_pod
from rayop.operator.workqueue import FAILED, Failed, WorkQueue

logger = logging.getLogger("rayop.handlers.raycluster")

#: Written to ``ray.io/kuberay-version`` on pods; differs from any KubeRay version so pods adopted from KubeRay
#: are recognised (their spec hash is computed differently) and not recreated.
OPERATOR_VERSION = "rayop-0.1.0"
POD_SELECTOR = f"{L.RAY_NODE_TYPE} in (head,worker,redis-cleanup)"
SERVICE_SELECTOR = f"{L.K8S_CREATED_BY}={L.COMPONENT_NAME}"


def _owner_key(obj: dict[str, Any]) -> tuple[str, str] | None:
    meta = obj.get("metadata", {})
    cluster = (meta.get("labels") or {}).get(L.RAY_CLUSTER)
    return (meta.get("namespace", ""), cluster) if cluster else None


def needs_pass(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether a RayCluster change calls for a pass: KubeRay's predicates (generation, labels or annotations
    changed), plus deletion. A status-only change (most often rayop's own status write coming back through the
    watch) just refreshes the cached body; children's events and the resync still wake the cluster.
    """
    if old is None:
        return True
    before, after = old.get("metadata", {}), new.get("metadata", {})
    return any(before.get(k) != after.get(k) for k in ("generation", "labels", "annotations", "deletionTimestamp"))


def register(registry: kopf.OperatorRegistry) -> None:
    """Register the RayCluster handlers on ``registry``."""

    @kopf.on.startup(registry=registry)
    async def raycluster_startup(memo: kopf.Memo, **_: Any) -> None:
        settings = memo.settings
        client = memo.client
        # One plain namespace narrows the child watches; globs (kopf patterns) need cluster-wide child watches.
        only = settings.namespaces[0] if len(settings.namespaces) == 1 else None
        namespace = only if only and not any(ch in only for ch in "*?[") else None

        metrics = OperatorMetrics()
        metrics.serve(settings.metrics_port)

        async def run_pass(body: dict[str, Any]) -> float | Failed | None:
            started = time.monotonic()
            try:
                outcome = await rc.reconcile(memo.rc_context, body)
            except Exception:
                metrics.reconcile_total.labels("raycluster", "error").inc()
                raise
            finally:
                metrics.reconcile_seconds.labels("raycluster").observe(time.monotonic() - started)
            metrics.reconcile_total.labels("raycluster", "error" if outcome.error else "success").inc()
            if outcome.deferred:
                return 0.05
            if outcome.waiting:
                # Events normally clear expectations first; this only bounds a lost event to the expectation TTL.
                return memo.rc_context.expectations.ttl
            if outcome.error and outcome.error != "invalid spec":
                return FAILED
            return None

        memo.rc_queue = WorkQueue(run_pass, concurrency=settings.max_concurrent_reconciles,
                                  resync=settings.resync_seconds, child_debounce=settings.child_event_debounce_seconds)

        def on_child(_: str, obj: dict[str, Any]) -> None:
            key = _owner_key(obj)
            if key is not None:
                memo.rc_queue.wake(key)

        pods = Informer(client, "v1", "pods", label_selector=POD_SELECTOR, namespace=namespace, on_change=on_child,
                        index_label=L.RAY_CLUSTER, transform=slim_pod)
        services = Informer(client, "v1", "services", label_selector=SERVICE_SELECTOR, namespace=namespace,
                            on_change=on_child)
        memo.rc_context = rc.Context(
            client=client, settings=settings,
            options=BuildOptions(rayop_autoscaler_image=settings.autoscaler_image, operator_version=OPERATOR_VERSION),
            pods=pods, services=services, events=EventRecorder(client, "raycluster-controller"), metrics=metrics,
        )

        def on_cluster(kind: str, obj: dict[str, Any]) -> None:
            meta = obj.get("metadata", {})
            key = (meta.get("namespace", ""), meta.get("name", ""))
            if settings.namespaces and not any(fnmatch.fnmatchcase(key[0], p) for p in settings.namespaces):
                return
            if kind == "DELETED":
                memo.rc_queue.discard(key)
                memo.rc_context.expectations.forget(key)
                metrics.forget_cluster(key[1], key[0], meta.get("uid", ""))
            else:
                memo.rc_queue.upsert(key, obj, wake=needs_pass(memo.rc_queue.body(key), obj))

        clusters = Informer(client, "ray.io/v1", "rayclusters", namespace=namespace, on_change=on_cluster)
        memo.rc_clusters = clusters
        pods.start()
        services.start()
        await pods.synced.wait()
        await services.synced.wait()
        # Clusters last: their first passes then see every pod and service already cached.
        clusters.start()
        await clusters.synced.wait()

    @kopf.on.cleanup(registry=registry)
    async def raycluster_cleanup(memo: kopf.Memo, **_: Any) -> None:
        if getattr(memo, "rc_queue", None) is not None:
            await memo.rc_queue.close()
        if getattr(memo, "rc_clusters", None) is not None:
            await memo.rc_clusters.stop()
        ctx = getattr(memo, "rc_context", None)
        if ctx is not None:
            await ctx.pods.stop()
            await ctx.services.stop()
            await ctx.events.close()
