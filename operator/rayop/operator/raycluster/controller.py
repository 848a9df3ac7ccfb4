"""The RayCluster controller: observe (from the shared caches), plan (pure), act (through rayop.kube), report.

Order as in KubeRay: skip foreign ``managedBy``; parse and validate (a bad spec gets a Warning event and a
``SpecValid=False`` condition naming the field, and no retry until the spec changes); the children of
:func:`children.desired_children`, each checked against its cache on every pass; then the pods of
:func:`pods_plan.plan_pods`; then the status, written only when it changed in substance. No finalizer: children
are owned and garbage-collected, as in KubeRay — except with GCS fault tolerance, where :mod:`.gcs` holds
KubeRay's Redis cleanup finalizer (per object, through the runtime's ``finalizer_for``) and adds the
``RedisReachable`` and ``HeadRecovery`` conditions.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import ValidationError

from rayop.api.raycluster import RayCluster
from rayop.kube.informers import Resource
from rayop.operator.builders import auth, hashing, names
from rayop.operator.runtime.children import ChildError, ensure
from rayop.operator.runtime.controller import Key, Result, Watch, managed_here, needs_pass_on_change
from rayop.operator.runtime.runner import Context
from rayop.operator.runtime.status import now_rfc3339

from . import children as C
from .gcs import GcsFaultTolerance
from .observed import PodView
from .pods import apply_pod_plan
from .pods_plan import plan_pods
from .status import COMPARED, Failure, compute_status, suspend_flags
from .validation import validate_raycluster

logger = logging.getLogger("rayop.raycluster")

#: Written to ``ray.io/kuberay-version`` on pods; differs from any KubeRay version so pods adopted from KubeRay
#: are recognised (their spec hash is computed differently) and not recreated.
OPERATOR_VERSION = "rayop-0.1.0"
PROVISIONED = "RayClusterProvisioned"


def _provisioned(status: dict[str, Any]) -> bool:
    return any(c.get("type") == PROVISIONED and c.get("status") == "True" for c in status.get("conditions", []) or [])


class RayClusterController:
    """``ray.io/v1`` RayCluster, as KubeRay's ``RayClusterReconciler``."""

    resource: ClassVar[Resource] = Resource("ray.io/v1", "rayclusters")
    kind: ClassVar[str] = "RayCluster"
    component: ClassVar[str] = "raycluster-controller"
    finalizer: ClassVar[str | None] = None

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.options = ctx.settings.raycluster.build_options(OPERATOR_VERSION)
        self.gcs = GcsFaultTolerance(ctx)
        self.finalizer_for = self.gcs.finalizer_for
        self.finalizer_deadline = self.gcs.finalizer_deadline

    def watches(self) -> Sequence[Watch]:
        return (C.PODS, C.SERVICES)

    def is_mine(self, obj: dict[str, Any]) -> bool:
        return managed_here(obj)

    def needs_pass(self, old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
        return needs_pass_on_change(old, new)

    async def finalize(self, obj: dict[str, Any]) -> Result:
        return await self.gcs.finalize(obj)

    def forget(self, key: Key, obj: dict[str, Any]) -> None:
        self.ctx.metrics.forget_cluster(key[1], key[0], obj.get("metadata", {}).get("uid", ""))
        self.gcs.forget(key)

    async def close(self) -> None:
        await self.gcs.close()

    async def _pods(self, cluster: RayCluster) -> list[PodView]:
        pods = await self.ctx.cache(C.PODS)
        return [PodView.from_pod(p) for p in pods.by_index(cluster.namespace, cluster.name)]

    async def reconcile(self, body: dict[str, Any]) -> Result:
        ctx = self.ctx
        previous = body.get("status") or {}
        try:
            cluster = RayCluster.parse(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ()))
            return await self._invalid(body, "InvalidRayClusterSpec", f"spec.{where}: {err.get('msg')}")
        problems = validate_raycluster(cluster)
        if problems:
            reason = "InvalidRayClusterMetadata" if problems[0].path.startswith("metadata") else "InvalidRayClusterSpec"
            return await self._invalid(body, reason, str(problems[0]))
        wanted = C.desired_children(cluster, self.options, auth_token=auth.new_auth_token)
        if wanted.errors:
            return await self._invalid(body, "InvalidRayClusterSpec", wanted.errors[0])

        failure: Failure | None = None
        for desired in wanted.children:
            try:
                await ensure(ctx.client, ctx.events, body, desired.child, await ctx.cache(desired.watch))
            except ChildError as exc:
                failure = failure or Failure(exc.reason, exc.message)
        pods = await self._pods(cluster)
        suspending, suspended = suspend_flags(cluster, pods, previous)
        key = (cluster.namespace, cluster.name)
        result = Result.done()
        created_only = deferred = False
        pending = ctx.expectations.pending_groups(key, [(p.group, p.name, p.uid, p.deleting) for p in pods])
        spec_hash = hashing.spec_hash(cluster)
        plan = plan_pods(cluster, pods, spec_hash=spec_hash, suspending=suspending, suspended=suspended,
                         provisioned=_provisioned(previous), pending_groups=pending,
                         max_creates=ctx.settings.raycluster.max_pod_creates_per_pass,
                         operator_version=self.options.operator_version,
                         random_pod_delete=ctx.settings.raycluster.enable_random_pod_delete)
        applied = await apply_pod_plan(ctx, cluster, body, plan, self.options, spec_hash)
        failure = failure or applied.failure
        deferred = plan.deferred
        created_only = applied.created_only
        if pending:
            result = Result.waiting()
        if deferred:
            result = result.sooner(Result.requeue(0.05))
        if not applied.acted:
            pods = await self._pods(cluster)
            suspending, suspended = suspend_flags(cluster, pods, previous)
        head_service = (await ctx.cache(C.SERVICES)).get(cluster.namespace, names.head_service_name(cluster))
        now = now_rfc3339()
        status = compute_status(cluster, pods, head_service, previous, now=now, suspending=suspending,
                                suspended=suspended, failure=failure)
        self.gcs.observe(cluster)
        ft_conditions, ft_events = self.gcs.conditions(cluster, pods, previous, now)
        status["conditions"] += ft_conditions
        # A pass that only created pods (all it wanted) is always followed by one woken by their watch events (or
        # by the relist after a broken watch); that pass writes the status with the new pods in it, so writing it
        # here too would only add one status write per scale-up (and one round trip to this pass) under load.
        # A GCS-FT change (head lost, Redis unreachable) is written at once: its time is the outage's start.
        if (ft_events or not (created_only and not deferred and failure is None)) and await ctx.status.write_if_changed(
                body, status, COMPARED):
            self.gcs.emit(body, ft_events)
        self._record_metrics(body, previous, status)
        if failure is not None:
            return Result.failed(failure.message)
        return result

    async def _invalid(self, body: dict[str, Any], reason: str, message: str) -> Result:
        await self.ctx.status.report_invalid(body, reason, message, extra={"reason": message})
        return Result.invalid_spec(message)

    def _record_metrics(self, body: dict[str, Any], previous: dict[str, Any], status: dict[str, Any]) -> None:
        meta = body["metadata"]
        owners = [r.get("kind") for r in meta.get("ownerReferences", []) or [] if r.get("controller")]
        key = (meta["name"], meta["namespace"], meta.get("uid", ""))
        now_provisioned = _provisioned(status)
        self.ctx.metrics.observe_cluster(*key, owners[0] if owners else "None", now_provisioned)
        if now_provisioned and not _provisioned(previous) and meta.get("creationTimestamp"):
            created = dt.datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
            self.ctx.metrics.provisioned(*key, (dt.datetime.now(dt.UTC) - created).total_seconds())
