"""One reconcile pass of a RayCluster: observe (from caches), plan (pure), act (through rayop.kube), report.

Order as in KubeRay: skip foreign ``managedBy``; parse and validate (a bad spec gets a Warning event and a
condition naming the field, and no retry until the spec changes); autoscaler RBAC, Ingress, auth Secret, Services;
then pods from :func:`pods_plan.plan_pods`; then the status, written only when it changed in substance.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from rayop.api import labels as L
from rayop.api.raycluster import RayCluster
from rayop.kube.client import ApiError, Conflict, KubeClient, NotFound
from rayop.kube.informer import Informer
from rayop.operator.builders import BuildOptions, auth, hashing, ingress, names, rbac, service
from rayop.operator.builders.pod import build_head_pod, build_worker_pod
from rayop.operator.metrics import OperatorMetrics
from rayop.operator.settings import Settings
from rayop.operator.validation import validate_raycluster

from .events import EventRecorder
from .expectations import Expectations
from .observed import PodView
from .pods_plan import CreatePod, DeletePod, plan_pods
from .status import Failure, compute_status, status_changed, suspend_flags

logger = logging.getLogger("rayop.raycluster")

MANAGED_BY_KUBERAY = "ray.io/kuberay-operator"
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class Context:
    """Everything a pass needs, shared by all clusters of one operator process."""

    client: KubeClient
    settings: Settings
    options: BuildOptions
    pods: Informer
    services: Informer
    events: EventRecorder
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    expectations: Expectations = field(default_factory=Expectations)
    #: (uid, kind, name) of auxiliary objects already ensured in this process; a cache, never a source of truth.
    ensured: set[tuple[str, str, str]] = field(default_factory=set)


@dataclass
class Outcome:
    """What the pass did, for the caller's requeue decision."""

    acted: bool = False
    #: The pass created pods and deleted none.
    created_only: bool = False
    deferred: bool = False
    #: Some group waits for the cache to show earlier creates/deletes: look again soon even without an event.
    waiting: bool = False
    error: str | None = None


def _random_suffix() -> str:
    return "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(5))


def _owner_ref(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": body.get("apiVersion", "ray.io/v1"), "kind": "RayCluster", "name": body["metadata"]["name"],
        "uid": body["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
    }


def _owned(obj: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    meta["namespace"] = body["metadata"]["namespace"]
    meta["ownerReferences"] = [_owner_ref(body)]
    return obj


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cluster_pods(ctx: Context, namespace: str, name: str) -> list[PodView]:
    return [PodView.from_pod(p) for p in ctx.pods.by_index(namespace, name)]


async def reconcile(ctx: Context, body: dict[str, Any]) -> Outcome:
    """Run one pass for ``body`` (the latest RayCluster object from the watch)."""
    meta = body["metadata"]
    spec = body.get("spec") or {}
    managed_by = spec.get("managedBy")
    if managed_by and managed_by != MANAGED_BY_KUBERAY:
        return Outcome()
    if meta.get("deletionTimestamp"):
        return Outcome()  # children are garbage-collected through their ownerReferences
    previous = body.get("status") or {}
    try:
        cluster = RayCluster.parse(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        await _report_invalid(ctx, body, previous, "InvalidRayClusterSpec", f"spec.{where}: {err.get('msg')}")
        return Outcome(error="invalid spec")
    problems = validate_raycluster(cluster)
    if problems:
        reason = "InvalidRayClusterMetadata" if problems[0].path.startswith("metadata") else "InvalidRayClusterSpec"
        await _report_invalid(ctx, body, previous, reason, str(problems[0]))
        return Outcome(error="invalid spec")

    outcome = Outcome()
    failure: Failure | None = None
    try:
        await _ensure_auxiliary(ctx, cluster, body)
    except ApiError as exc:
        failure = Failure("FailedCreateHeadPod", str(exc))
    pods = cluster_pods(ctx, cluster.namespace, cluster.name)
    suspending, suspended = suspend_flags(cluster, pods, previous)
    if failure is None:
        failure = await _reconcile_pods(ctx, cluster, body, pods, previous, suspending, suspended, outcome)
        pods = cluster_pods(ctx, cluster.namespace, cluster.name)
        suspending, suspended = suspend_flags(cluster, pods, previous) if not outcome.acted else (
            suspending, suspended)
    head_service = ctx.services.store.get((cluster.namespace, names.head_service_name(cluster)))
    status = compute_status(cluster, pods, head_service, previous, now=_now(), suspending=suspending,
                            suspended=suspended, failure=failure)
    # A pass that only created pods (all it wanted) is always followed by one woken by their watch events (or by
    # the relist after a broken watch); that pass writes the status with the new pods in it, so writing it here
    # too would only add one status write per scale-up (and one round trip to this pass) under load.
    if status_changed(previous, status) and not (outcome.created_only and not outcome.deferred and failure is None):
        await _write_status(ctx, body, status)
    _record_metrics(ctx, body, previous, status)
    if failure is not None:
        outcome.error = failure.message
    return outcome


def _provisioned(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "RayClusterProvisioned" and c.get("status") == "True"
               for c in status.get("conditions", []) or [])


def _record_metrics(ctx: Context, body: dict[str, Any], previous: dict[str, Any], status: dict[str, Any]) -> None:
    meta = body["metadata"]
    owners = [r.get("kind") for r in meta.get("ownerReferences", []) or [] if r.get("controller")]
    key = (meta["name"], meta["namespace"], meta.get("uid", ""))
    now_provisioned = _provisioned(status)
    ctx.metrics.observe_cluster(*key, owners[0] if owners else "None", now_provisioned)
    if now_provisioned and not _provisioned(previous) and meta.get("creationTimestamp"):
        created = dt.datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
        ctx.metrics.provisioned(*key, (dt.datetime.now(dt.UTC) - created).total_seconds())


async def _write_status(ctx: Context, body: dict[str, Any], status: dict[str, Any]) -> None:
    meta = body["metadata"]
    api_version = body.get("apiVersion", "ray.io/v1")
    with contextlib.suppress(NotFound):  # deleted meanwhile
        await ctx.client.patch_status(api_version, "rayclusters", meta["name"], status, meta["namespace"])


async def _report_invalid(ctx: Context, body: dict[str, Any], previous: dict[str, Any], reason: str,
                          message: str) -> None:
    """Warning event plus a SpecValid=False condition; written once per generation (no event storm)."""
    generation = body["metadata"].get("generation", 0)
    conds = [c for c in previous.get("conditions", []) or [] if c.get("type") != "SpecValid"]
    already = any(c.get("type") == "SpecValid" and c.get("status") == "False" and c.get("message") == message
                  and c.get("observedGeneration") == generation for c in previous.get("conditions", []) or [])
    if already:
        return
    ctx.events.warning(body, reason, message)
    conds.append({"type": "SpecValid", "status": "False", "reason": reason, "message": message,
                  "lastTransitionTime": _now(), "observedGeneration": generation})
    await _write_status(ctx, body, {"conditions": conds, "observedGeneration": generation,
                                    "reason": message})


async def _create_once(ctx: Context, body: dict[str, Any], obj: dict[str, Any], reason: str, fail_reason: str) -> None:
    """Create ``obj`` unless this process already ensured it; an existing object is left alone (as KubeRay)."""
    key = (body["metadata"]["uid"], obj["kind"], obj["metadata"]["name"])
    if key in ctx.ensured:
        return
    try:
        await ctx.client.create(_owned(obj, body))
        ctx.events.normal(body, reason, f"Created {obj['kind'].lower()} {body['metadata']['namespace']}/"
                                              f"{obj['metadata']['name']}")
    except Conflict:
        pass
    except ApiError as exc:
        ctx.events.warning(body, fail_reason, f"Failed to create {obj['kind']} "
                                                    f"{obj['metadata']['name']}: {exc.message}")
        raise
    ctx.ensured.add(key)


async def _ensure_auxiliary(ctx: Context, cluster: RayCluster, body: dict[str, Any]) -> None:
    if cluster.spec.enable_in_tree_autoscaling:
        if not rbac.user_named_service_account(cluster):
            await _create_once(ctx, body, rbac.build_autoscaler_service_account(cluster),
                               "CreatedServiceAccount", "FailedToCreateServiceAccount")
        await _create_once(ctx, body, rbac.build_autoscaler_role(cluster), "CreatedRole", "FailedToCreateRole")
        await _create_once(ctx, body, rbac.build_autoscaler_role_binding(cluster), "CreatedRoleBinding",
                           "FailedToCreateRoleBinding")
    if ingress.is_ingress_enabled(cluster):
        await _create_once(ctx, body, ingress.build_ingress(cluster, ctx.options), "CreatedIngress",
                           "FailedToCreateIngress")
    if auth.needs_auth_secret(cluster):
        await _create_once(ctx, body, auth.build_auth_secret(cluster, auth.new_auth_token()), "CreatedSecret",
                           "FailedToCreateSecret")
    ns = cluster.namespace
    wanted = [service.build_head_service(cluster, ctx.options)]
    if service.needs_headless_worker_service(cluster):
        wanted.append(service.build_headless_worker_service(cluster))
    if service.is_serve_service_enabled(cluster):
        wanted.append(service.build_serve_service(cluster, ctx.options))
    for svc in wanted:
        if (ns, svc["metadata"]["name"]) not in ctx.services.store:
            await _create_once(ctx, body, svc, "CreatedService", "FailedToCreateService")


async def _reconcile_pods(
    ctx: Context, cluster: RayCluster, body: dict[str, Any], pods: list[PodView], previous: dict[str, Any],
    suspending: bool, suspended: bool, outcome: Outcome,
) -> Failure | None:
    key = (cluster.namespace, cluster.name)
    pending = ctx.expectations.pending_groups(key, [(p.group, p.name, p.uid, p.deleting) for p in pods])
    provisioned = any(c.get("type") == "RayClusterProvisioned" and c.get("status") == "True"
                      for c in previous.get("conditions", []) or [])
    spec_hash = hashing.spec_hash(cluster)
    plan = plan_pods(cluster, pods, spec_hash=spec_hash, suspending=suspending,
                     suspended=suspended, provisioned=provisioned, pending_groups=pending,
                     max_creates=ctx.settings.max_pod_creates_per_pass,
                     operator_version=ctx.options.operator_version,
                     random_pod_delete=ctx.settings.enable_random_pod_delete)
    for pod_name in plan.refresh_hash:
        with contextlib.suppress(NotFound):
            await ctx.client.patch("v1", "pods", pod_name, {"metadata": {"annotations": {
                L.UPGRADE_STRATEGY_RECREATE_HASH: spec_hash, L.KUBERAY_VERSION: ctx.options.operator_version}}},
                cluster.namespace)
    outcome.deferred = plan.deferred
    outcome.waiting = bool(pending)
    if plan.error:
        return Failure("FailedCreateHeadPod", plan.error)
    failure: Failure | None = None
    # Every host of a multi-host replica shares one replica name, chosen here for the whole replica.
    replica_names = {c.replica_key: names.multihost_replica_name(c.group, _random_suffix())
                     for c in plan.creates if c.replica_key is not None}
    # One pass keeps at most half of the API connections busy, so a big scale-up never queues a small cluster's
    # requests behind its own (the fairness benchmark: KubeRay issue #3909).
    slots = asyncio.Semaphore(max(1, ctx.settings.api_connections // 2))

    async def bounded(call: Awaitable[Failure | None]) -> Failure | None:
        async with slots:
            return await call

    results = await asyncio.gather(*(bounded(_delete_pod(ctx, body, d)) for d in plan.deletes),
                                   *(bounded(_create_pod(ctx, cluster, body, c, key, replica_names))
                                     for c in plan.creates))
    for res in results:
        if res is not None and failure is None:
            failure = res
    outcome.acted = bool(plan.creates or plan.deletes)
    outcome.created_only = bool(plan.creates) and not plan.deletes
    return failure


async def _delete_pod(ctx: Context, body: dict[str, Any], d: DeletePod) -> Failure | None:
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    ctx.expectations.expect_delete(key, d.group, d.uid)
    try:
        await ctx.client.delete("v1", "pods", d.name, key[0], precondition_uid=d.uid)
    except NotFound:
        return None
    except ApiError as exc:
        is_head = d.node_type == L.NODE_TYPE_HEAD
        reason = "FailedToDeleteHeadPod" if is_head else "FailedToDeleteWorkerPod"
        ctx.events.warning(body, reason, f"Failed to delete Pod {key[0]}/{d.name}, {exc.message}")
        return Failure("FailedDeleteHeadPod" if is_head else "FailedDeleteWorkerPod", exc.message)
    ctx.metrics.pods_deleted.labels(d.node_type).inc()
    ctx.events.normal(body, d.reason, d.message)
    return None


async def _create_pod(ctx: Context, cluster: RayCluster, body: dict[str, Any], c: CreatePod,
                      key: tuple[str, str], replica_names: dict[str, str]) -> Failure | None:
    suffix = _random_suffix()
    if c.node_type == L.NODE_TYPE_HEAD:
        name = names.head_pod_name(cluster, suffix)
        pod = build_head_pod(cluster, ctx.options, name=name)
    else:
        group = next(g for g in cluster.spec.worker_group_specs or [] if g.group_name == c.group)
        name = names.worker_pod_name(cluster, group, suffix)
        if c.replica_key is not None:
            pod = build_worker_pod(cluster, group, ctx.options, name=name, replica_index=c.replica_index or 0,
                                   replica_name=replica_names[c.replica_key], host_index=c.host_index or 0)
        else:
            pod = build_worker_pod(cluster, group, ctx.options, name=name)
    ctx.expectations.expect_create(key, c.group, name)
    kind = "head" if c.node_type == L.NODE_TYPE_HEAD else "worker"
    try:
        await ctx.client.create(_owned(pod, body))
    except ApiError as exc:
        ctx.expectations.drop_create(key, c.group, name)
        ctx.events.warning(body, f"FailedToCreate{kind.capitalize()}Pod",
                                 f"Failed to create {kind} Pod {key[0]}/{name}, {exc.message}")
        return Failure(f"FailedCreate{kind.capitalize()}Pod", exc.message)
    ctx.metrics.pods_created.labels(c.node_type).inc()
    ctx.events.normal(body, f"Created{kind.capitalize()}Pod", f"Created {kind} Pod {key[0]}/{name}")
    return None
