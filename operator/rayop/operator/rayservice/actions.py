"""Carries out the rollout's actions for the RayService controller, with KubeRay's event reasons (no decisions here:
:mod:`rayop.serve_rollout.rollout` made them). Every write is idempotent and checked against the caches, so an action
repeated after a restart changes nothing; what a later pass must know is written onto the objects (annotations)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.api.raycluster import RayCluster
from rayop.kube.client import ApiError, Conflict, NotFound
from rayop.operator.builders import BuildError
from rayop.operator.builders.rayservice import (
    DELETE_AFTER,
    SERVE_CONFIG_APPLYING,
    SERVE_CONFIG_HASH,
    build_cluster_for_service,
    build_service_head_service,
    build_service_serve_service,
    cluster_annotations,
)
from rayop.operator.runtime.children import Child, ChildError, ensure, owned
from rayop.operator.runtime.controller import Result
from rayop.serve_rollout import model as M

from .observe import ABANDONED, rfc3339
from .serve_api import HttpServeApi, config_to_json

if TYPE_CHECKING:
    from .controller import Pass, RayServiceController

Body = dict[str, Any]


async def run(ctl: RayServiceController, p: Pass, action: M.Action) -> Result:
    """One action; failures are reported as KubeRay's Warning events and retried by the next pass."""
    try:
        if isinstance(action, M.CreateCluster):
            return await _create_cluster(ctl, p, action.name)
        if isinstance(action, M.UpdateClusterInPlace):
            return await _update_in_place(ctl, p, action.name)
        if isinstance(action, M.ApplyServeConfig):
            return await apply_serve_config(ctl, p, action.name)
        if isinstance(action, M.SwitchServices):
            return await switch_services(ctl, p, action.name)
        if isinstance(action, M.MarkForDeletion):
            await _annotate_cluster(ctl, p, action.name, {DELETE_AFTER: rfc3339(action.at)})
            ctl.ctx.events.normal(p.body, "DrainingRayCluster", f"RayCluster {p.ns}/{action.name} takes no new "
                                                                f"traffic; it is deleted after {rfc3339(action.at)}")
        elif isinstance(action, M.DeleteCluster):
            return await delete_cluster(ctl, p.body, action.name, action.reason)
        elif isinstance(action, M.AbandonUpgrade):
            ctl.ctx.events.warning(p.body, "UpgradeAbandoned", action.message)
            await ctl.ctx.client.patch("ray.io/v1", "rayservices", p.svc.name,
                                       {"metadata": {"annotations": {ABANDONED: action.goal}}}, p.ns)
        elif isinstance(action, M.ReportCapacityShortfall):
            ctl.ctx.events.warning(p.body, "InsufficientCapacity", f"The new RayCluster is not created: "
                                                                   f"{action.message}")
        elif isinstance(action, M.Note):
            ctl.ctx.events.normal(p.body, action.reason, action.message)
    except (BuildError, ChildError) as exc:
        return Result.failed(str(exc))
    except Conflict:
        return Result.requeue(0.5)
    return Result.done()


async def _create_cluster(ctl: RayServiceController, p: Pass, name: str) -> Result:
    obj = build_cluster_for_service(p.svc, cluster_name=name, cluster_hash=p.desired.cluster_hash,
                                    options=ctl.options)
    await ensure(ctl.ctx.client, ctl.ctx.events, p.body, Child(obj, "CreatedRayCluster", "FailedToCreateRayCluster",
                                                               owner_label=L.RAY_ORIGINATED_FROM_CR_NAME),
                 ctl.clusters)
    return Result.requeue(2.0)


async def _update_in_place(ctl: RayServiceController, p: Pass, name: str) -> Result:
    """Rewrite the cluster's spec from the RayService (appended worker groups), keeping its ``suspend``."""
    current = ctl.clusters.get(p.ns, name)
    if current is None:
        return Result.requeue(1.0)
    spec = p.svc.spec.ray_cluster_config.model_dump(by_alias=True, exclude_unset=True, exclude_none=True,
                                                    mode="json")
    if "suspend" in (current.get("spec") or {}):
        spec["suspend"] = current["spec"]["suspend"]
    groups = len(spec.get("workerGroupSpecs") or [])
    annotations = cluster_annotations(p.svc, p.desired.cluster_hash, groups, ctl.options)
    body = {**current, "spec": spec, "metadata": {**current["metadata"], "annotations": {
        **(current["metadata"].get("annotations") or {}), **annotations}}}
    try:
        await ctl.ctx.client.replace(body)
    except ApiError as exc:
        if isinstance(exc, Conflict):
            raise
        ctl.ctx.events.warning(p.body, "FailedToUpdateRayCluster", f"Failed to update RayCluster {p.ns}/{name}: "
                                                                   f"{exc.message}")
        return Result.failed(exc.message)
    ctl.ctx.events.normal(p.body, "UpdatedRayCluster", f"Updated RayCluster {p.ns}/{name} in place (worker groups "
                                                       f"appended)")
    return Result.done()


async def _annotate_cluster(ctl: RayServiceController, p: Pass, name: str,
                            annotations: dict[str, str | None]) -> None:
    """Merge ``annotations`` into the cluster's (None removes one)."""
    with contextlib.suppress(NotFound):
        await ctl.ctx.client.patch("ray.io/v1", "rayclusters", name, {"metadata": {"annotations": annotations}},
                                   p.ns)


async def apply_serve_config(ctl: RayServiceController, p: Pass, name: str) -> Result:
    """PUT the serve config in the background; once it succeeded, record its hash on the cluster (restart-safe).

    One PUT per cluster at a time: a newer config waits for the one in flight, whose hash (the config that really
    reached Serve) is recorded first, so a slow older PUT can never land after a newer one unnoticed.
    """
    slot = (p.key, name)
    prior = ctl.applying.get(slot)
    if prior is not None:
        if ctl.calls.running(p.key, prior):
            return Result.requeue(1.0)
        outcome = ctl.calls.outcome(p.key, prior)
        del ctl.applying[slot]
        if outcome is not None:
            ctl.calls.clear(p.key, prior)
            applied = prior.rsplit("/", 1)[1]
            if not outcome.ok:
                ctl.ctx.events.warning(p.body, "FailedToUpdateServeApplications",
                                       f"Failed to update serve applications on RayCluster {p.ns}/{name} (Issue 5: "
                                       f"Fail to create / update Serve applications): {outcome.error}")
                return Result.requeue(3.0)
            await _annotate_cluster(ctl, p, name, {SERVE_CONFIG_HASH: applied, SERVE_CONFIG_APPLYING: None})
            ctl.ctx.events.normal(p.body, "UpdatedServeApplications", f"Updated serve applications on RayCluster "
                                                                      f"{p.ns}/{name} (config {applied[:12]})")
            return Result.requeue(1.0)
    target = ctl.serve_target(p.ns, name)
    if target is None:
        return Result.requeue(2.0)
    try:
        config = config_to_json(p.svc.spec.serve_config_v2 or "")
    except ValueError as exc:
        ctl.ctx.events.warning(p.body, "FailedToUpdateServeApplications", str(exc))
        return Result.failed(str(exc))
    purpose = f"apply/{name}/{p.desired.serve_config_hash or ''}"
    api = HttpServeApi(target[0], target[1], ctl.session(), ctl.settings.http_timeout_seconds)
    # Recorded before the PUT: an operator killed while it is in flight (or a PUT that timed out but landed) leaves
    # the config unknown rather than the old hash, so the next operator sends it again.
    await _annotate_cluster(ctl, p, name, {SERVE_CONFIG_APPLYING: p.desired.serve_config_hash or ""})
    ctl.applying[slot] = purpose
    ctl.calls.start(p.key, purpose, lambda: api.put_config(config))
    return Result.requeue(2.0)


async def switch_services(ctl: RayServiceController, p: Pass, name: str) -> Result:
    """Point ``<svc>-head-svc`` and the serve Service at cluster ``name`` (create them if missing), serve last:
    the serve Service's selector is the traffic switch, and a pass reads a switch as done only when both agree."""
    current = ctl.clusters.get(p.ns, name)
    if current is None:
        return Result.requeue(1.0)
    cluster = RayCluster.parse(current)
    try:  # both built before either moves: a half switch would leave the Services disagreeing
        services = (build_service_head_service(p.svc, cluster, ctl.options),
                    build_service_serve_service(p.svc, cluster))
    except BuildError as exc:
        ctl.ctx.events.warning(p.body, "FailedToCreateService", f"Cannot point the Services of {p.ns}/{p.svc.name} "
                                                                f"at RayCluster {name}: {exc}")
        return Result.failed(str(exc))
    for service in services:
        result = await _point_service(ctl, p, service, name)
        if result.outcome.value != "done":
            return result
    return Result.requeue(0.5)


async def _point_service(ctl: RayServiceController, p: Pass, service: Body, cluster: str) -> Result:
    sname = service["metadata"]["name"]
    existing = p.services.get(sname)
    events = ctl.ctx.events
    try:
        if existing is None:
            with contextlib.suppress(Conflict):
                await ctl.ctx.client.create(owned(service, p.body))
                events.normal(p.body, "CreatedService", f"Created service {p.ns}/{sname} for RayCluster {cluster}")
            return Result.done()
        if ((existing.get("spec") or {}).get("selector") or {}).get(L.RAY_CLUSTER) == cluster:
            return Result.done()
        await ctl.ctx.client.patch("v1", "services", sname, {"spec": {"selector": service["spec"]["selector"]}},
                                   p.ns)
    except ApiError as exc:
        if isinstance(exc, Conflict):
            raise
        reason = "FailedToCreateService" if existing is None else "FailedToUpdateService"
        events.warning(p.body, reason, f"Failed to point service {p.ns}/{sname} at RayCluster {cluster}: "
                                       f"{exc.message}")
        return Result.failed(exc.message)
    events.normal(p.body, "UpdatedService", f"Service {p.ns}/{sname} now selects RayCluster {cluster}")
    return Result.done()


async def delete_cluster(ctl: RayServiceController, owner: Body, name: str, why: str) -> Result:
    ns = owner["metadata"]["namespace"]
    try:
        await ctl.ctx.client.delete("ray.io/v1", "rayclusters", name, ns, propagation="Background")
    except NotFound:
        return Result.done()
    except ApiError as exc:
        ctl.ctx.events.warning(owner, "FailedToDeleteRayCluster", f"Failed to delete RayCluster {ns}/{name}: "
                                                                  f"{exc.message}")
        return Result.failed(exc.message)
    ctl.ctx.events.normal(owner, "DeletedRayCluster", f"Deleted RayCluster {ns}/{name} ({why})")
    return Result.requeue(1.0)


async def delete_service(ctl: RayServiceController, owner: Body, name: str) -> Result:
    ns = owner["metadata"]["namespace"]
    try:
        await ctl.ctx.client.delete("v1", "services", name, ns)
    except NotFound:
        return Result.done()
    except ApiError as exc:
        ctl.ctx.events.warning(owner, "FailedToDeleteService", f"Failed to delete service {ns}/{name}: "
                                                               f"{exc.message}")
        return Result.failed(exc.message)
    ctl.ctx.events.normal(owner, "DeletedService", f"Deleted service {ns}/{name}")
    return Result.requeue(1.0)


async def set_head_serve_label(ctl: RayServiceController, owner: Body, pod: Mapping[str, Any], value: str) -> None:
    """KubeRay's ``updateHeadPodServeLabel``: the head joins the serve Service only while its proxy answers."""
    meta = pod["metadata"]
    try:
        await ctl.ctx.client.patch("v1", "pods", meta["name"], {"metadata": {"labels": {L.RAY_SERVE: value}}},
                                   meta["namespace"])
    except NotFound:
        return
    except ApiError as exc:
        ctl.ctx.events.warning(owner, "FailedToUpdateHeadPodServeLabel", f"Failed to update the serve label of "
                                                                         f"Pod {meta['namespace']}/{meta['name']}: "
                                                                         f"{exc.message}")
        return
    ctl.ctx.events.normal(owner, "UpdatedHeadPodServeLabel", f"Updated the serve label of Pod {meta['namespace']}/"
                                                             f"{meta['name']} to {value}")
