"""The RayService's lifecycle outside the rollout: suspend and resume (KubeRay's atomic suspend), the terminal
``ray.io/initializing-timeout``, deleting every cluster and Service, and reporting an invalid spec."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.api.conditions import condition
from rayop.api.rayservice import ConditionReason as R
from rayop.api.rayservice import ConditionType as T
from rayop.api.rayservice import RayService
from rayop.kube.informers import Resource
from rayop.operator.runtime.controller import Result, Watch, owner_by_reference
from rayop.operator.runtime.status import SPEC_VALID
from rayop.serve_rollout.timeouts import initializing_timed_out, initializing_timeout_message, parse_duration

from . import actions
from . import status as S
from .observe import parse_time, rfc3339

if TYPE_CHECKING:
    from .controller import RayServiceController

SERVICES = Watch(Resource("v1", "services", f"{L.RAY_ORIGINATED_FROM_CRD}={L.CRD_RAYSERVICE}"),
                 owner_by_reference("RayService"))


def replacing(old: Any, new: Any) -> Any:
    """A merge patch that turns ``old`` into ``new`` (keys only in ``old`` set to None, maps recursed)."""
    if not isinstance(new, dict) or not isinstance(old, dict):
        return new
    out = {k: replacing(old.get(k), v) for k, v in new.items()}
    out.update({k: None for k in old if k not in new})
    return out


async def suspend_flow(ctl: RayServiceController, svc: RayService, body: dict[str, Any], prev: dict[str, Any],
                        now: dt.datetime) -> Result | None:
    suspending, suspended = S.is_true(prev, T.SUSPENDING), S.is_true(prev, T.SUSPENDED)
    previous = S.conditions_by_type(prev)
    gen, stamp = svc.generation, rfc3339(now)
    if suspended and not svc.spec.suspend:
        conds = S.resumed_conditions(previous, gen, stamp)
        await ctl.ctx.status.write(body, {"conditions": conds, "observedGeneration": gen,
                                           "lastUpdateTime": stamp})
        return Result.requeue(0.2)
    if suspended:
        return Result.done()
    if not suspending and not svc.spec.suspend:
        return None
    if not suspending:
        conds = S.suspend_conditions(previous, gen, stamp, done=False)
        await ctl.ctx.status.write(body, {**replacing(prev, {
            "conditions": conds, "activeServiceStatus": {}, "pendingServiceStatus": {}, "numServeEndpoints": 0,
            "serviceStatus": "", "observedGeneration": gen}), "lastUpdateTime": stamp})
        return Result.requeue(0.2)
    remaining = await delete_all(ctl, body, svc, "the RayService is suspended", services=True)
    if remaining.outcome.value != "done":
        return remaining
    await ctl.ctx.status.write(body, {"conditions": S.suspend_conditions(previous, gen, stamp, done=True),
                                       "observedGeneration": gen, "lastUpdateTime": stamp})
    return Result.done()

async def delete_all(ctl: RayServiceController, body: dict[str, Any], svc: RayService, why: str, *,
                      services: bool = False) -> Result:
    """Delete every cluster (and with ``services`` every Service) of the RayService; done once none is left."""
    ns = svc.namespace
    left = 0
    for cluster in ctl.clusters.owned_by(ns, svc.uid):
        left += 1
        if not cluster["metadata"].get("deletionTimestamp"):
            await actions.delete_cluster(ctl, body, cluster["metadata"]["name"], why)
    if services:
        for service in (await ctl.ctx.cache(SERVICES)).owned_by(ns, svc.uid):
            left += 1
            if not service["metadata"].get("deletionTimestamp"):
                await actions.delete_service(ctl, body, service["metadata"]["name"])
    return Result.requeue(1.0) if left else Result.done()

async def initializing_timeout(ctl: RayServiceController, svc: RayService, body: dict[str, Any], prev: dict[str, Any],
                                now: dt.datetime) -> Result | None:
    text = svc.annotations.get(L.INITIALIZING_TIMEOUT)
    timeout = parse_duration(text) if text else None
    ready = S.conditions_by_type(prev).get(T.READY) or {}
    since = parse_time(ready.get("lastTransitionTime"))
    if text is None or not initializing_timed_out(timeout, ready.get("reason"), since, now):
        return None
    spent = (now - since).total_seconds() if since else 0.0
    message = initializing_timeout_message(text, spent)
    ctl.ctx.events.warning(body, "RayServiceInitializingTimeout", message)
    previous = S.conditions_by_type(prev)
    conds = [c for t, c in previous.items() if t not in (T.READY,)]
    conds.append(condition(T.READY, False, R.INITIALIZING_TIMEOUT, message, svc.generation, rfc3339(now),
                           previous))
    await ctl.ctx.status.write(body, {**replacing(prev, {
        **{k: v for k, v in prev.items() if k not in ("lastUpdateTime",)},
        "activeServiceStatus": {}, "pendingServiceStatus": {}, "numServeEndpoints": 0, "serviceStatus": "",
        "conditions": conds, "observedGeneration": svc.generation}), "lastUpdateTime": rfc3339(now)})
    await delete_all(ctl, body, svc, "initializing timeout")
    return Result.done()

async def report_invalid(ctl: RayServiceController, body: dict[str, Any], message: str,
                         reason: str = "InvalidRayServiceSpec") -> Result:
    meta = body["metadata"]
    prev = body.get("status") or {}
    previous = S.conditions_by_type(prev)
    gen = int(meta.get("generation") or 0)
    now = rfc3339(dt.datetime.now(dt.UTC))
    conds = [c for t, c in previous.items() if t not in (T.READY, SPEC_VALID)]
    conds.append(condition(T.READY, False, R.VALIDATION_FAILED, message, gen, now, previous))
    conds.append({"type": SPEC_VALID, "status": "False", "reason": reason, "message": message,
                  "lastTransitionTime": now, "observedGeneration": gen})
    await ctl.ctx.status.report_invalid(body, reason, f"{meta['namespace']}/{meta['name']}: {message}", extra={
        "conditions": conds, "serviceStatus": "", "observedGeneration": gen, "lastUpdateTime": now})
    return Result.invalid_spec(message)
