"""Carries out a pod plan: deletes and creates with expectations, bounded API use, KubeRay's events and reasons.

Expectations are recorded before each call, so a pass that runs before the cache shows the result skips the
group instead of acting twice. One pass keeps at most half of the API connections busy, so a big scale-up never
queues a small cluster's requests behind its own (the fairness benchmark: KubeRay issue #3909).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from rayop.api import labels as L
from rayop.api.raycluster import RayCluster
from rayop.kube.client import ApiError, NotFound
from rayop.operator.builders import BuildOptions, names
from rayop.operator.builders.names import SUFFIX_ALPHABET, SUFFIX_LENGTH
from rayop.operator.runtime.children import owned
from rayop.operator.runtime.runner import Context

from .children import build_pod, pod_name
from .pods_plan import CreatePod, DeletePod, PodPlan
from .status import Failure


def random_suffix() -> str:
    """Kubernetes' ``generateName`` alphabet and length, chosen here so the name is known before the create (the
    expectation names the pod)."""
    return "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))


@dataclass
class Applied:
    failure: Failure | None = None
    acted: bool = False
    created_only: bool = False


async def apply_pod_plan(ctx: Context, cluster: RayCluster, body: dict[str, Any], plan: PodPlan,
                         options: BuildOptions, spec_hash: str) -> Applied:
    key = (cluster.namespace, cluster.name)
    for name in plan.refresh_hash:
        with contextlib.suppress(NotFound):
            await ctx.client.patch("v1", "pods", name, {"metadata": {"annotations": {
                L.UPGRADE_STRATEGY_RECREATE_HASH: spec_hash, L.KUBERAY_VERSION: options.operator_version}}},
                cluster.namespace)
    if plan.error:
        return Applied(Failure("FailedCreateHeadPod", plan.error))
    # Every host of a multi-host replica shares one replica name, chosen here for the whole replica.
    replica_names = {c.replica_key: names.multihost_replica_name(c.group, random_suffix())
                     for c in plan.creates if c.replica_key is not None}
    slots = asyncio.Semaphore(max(1, ctx.settings.api.connections // 2))

    async def bounded(call: Awaitable[Failure | None]) -> Failure | None:
        async with slots:
            return await call

    results = await asyncio.gather(
        *(bounded(_delete(ctx, body, key, d)) for d in plan.deletes),
        *(bounded(_create(ctx, cluster, body, key, c, options, replica_names)) for c in plan.creates))
    failure = next((r for r in results if r is not None), None)
    return Applied(failure, acted=bool(plan.creates or plan.deletes),
                   created_only=bool(plan.creates) and not plan.deletes)


async def _delete(ctx: Context, body: dict[str, Any], key: tuple[str, str], d: DeletePod) -> Failure | None:
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


async def _create(ctx: Context, cluster: RayCluster, body: dict[str, Any], key: tuple[str, str], c: CreatePod,
                  options: BuildOptions, replica_names: dict[str, str]) -> Failure | None:
    name = pod_name(cluster, c, random_suffix())
    pod = build_pod(cluster, options, c, name, replica_names.get(c.replica_key) if c.replica_key else None)
    ctx.expectations.expect_create(key, c.group, name)
    kind = "head" if c.node_type == L.NODE_TYPE_HEAD else "worker"
    try:
        await ctx.client.create(owned(pod, body))
    except ApiError as exc:
        ctx.expectations.drop_create(key, c.group, name)
        ctx.events.warning(body, f"FailedToCreate{kind.capitalize()}Pod",
                           f"Failed to create {kind} Pod {key[0]}/{name}, {exc.message}")
        return Failure(f"FailedCreate{kind.capitalize()}Pod", exc.message)
    ctx.metrics.pods_created.labels(c.node_type).inc()
    ctx.events.normal(body, f"Created{kind.capitalize()}Pod", f"Created {kind} Pod {key[0]}/{name}")
    return None
