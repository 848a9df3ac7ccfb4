"""The RayService status as KubeRay computes it (``calculateStatus``/``calculateConditions``), plus rayop's
rollout conditions, as pure functions of the previous status and what the pass decided.

KubeRay's conditions: ``Ready`` (True/NonZeroServeEndpoints once the serve Service has a ready endpoint,
False/ZeroServeEndpoints after losing them, False/Initializing before), ``UpgradeInProgress``
(True/BothActivePendingClustersExist, False/NoPendingCluster, Unknown/NoActiveCluster), the suspend conditions.
rayop's own, so a user (or a test killing the operator) can see each rollout step:

* ``UpgradeAbandoned`` True/UpgradeDeadlineExceeded: the last upgrade missed its deadline (False once the spec changes);
* ``PendingClusterFits`` False/InsufficientCapacity: the pending cluster was not created, it would not fit;
* ``UpgradeStrategySupported`` False: NewClusterWithIncrementalUpgrade runs as NewCluster (why in the message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rayop.api.conditions import condition
from rayop.api.rayservice import ConditionReason as R
from rayop.api.rayservice import ConditionType as T
from rayop.serve_rollout.model import AppView

ABANDONED = "UpgradeAbandoned"
FITS = "PendingClusterFits"
STRATEGY = "UpgradeStrategySupported"
SUSPEND_STATES = (T.SUSPENDING, T.SUSPENDED)


def conditions_by_type(status: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or [] if isinstance(c, dict) and "type" in c}


def is_true(status: Mapping[str, Any], ctype: str) -> bool:
    return conditions_by_type(status).get(ctype, {}).get("status") == "True"


def reason_of(status: Mapping[str, Any], ctype: str) -> str | None:
    return conditions_by_type(status).get(ctype, {}).get("reason")


def _unknown(ctype: str, reason: str, message: str, generation: int, now: str,
             previous: dict[str, dict[str, Any]]) -> dict[str, Any]:
    c = condition(ctype, False, reason, message, generation, now, previous)
    old = previous.get(ctype)
    c["status"] = "Unknown"
    c["lastTransitionTime"] = old["lastTransitionTime"] if old and old.get("status") == "Unknown" else now
    return c


def side(name: str | None, apps: Mapping[str, AppView] | None, cluster_status: Mapping[str, Any] | None,
         previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """One of activeServiceStatus / pendingServiceStatus ({} when there is no cluster on that side)."""
    if not name:
        return {}
    out: dict[str, Any] = {"rayClusterName": name}
    if apps is not None:
        out["applicationStatuses"] = {
            app: {k: v for k, v in {"status": a.status, "message": a.message or None, "serveDeploymentStatuses": {
                d: {k2: v2 for k2, v2 in {"status": s, "message": m or None}.items() if v2}
                for d, (s, m) in a.deployments.items()} or None}.items() if v}
            for app, a in apps.items()}
    elif previous and previous.get("rayClusterName") == name and previous.get("applicationStatuses"):
        out["applicationStatuses"] = previous["applicationStatuses"]
    if cluster_status:
        out["rayClusterStatus"] = dict(cluster_status)
    return out


def rollout_conditions(previous: dict[str, dict[str, Any]], generation: int, now: str, *,
                       active: str | None, pending: str | None, endpoints: int,
                       abandoned: str | None, shortfall: str | None, unsupported: str | None,
                       ever_ready: bool) -> list[dict[str, Any]]:
    """Ready and UpgradeInProgress (KubeRay's rules) and rayop's rollout conditions."""
    out = []
    if endpoints > 0:
        out.append(condition(T.READY, True, R.NON_ZERO_SERVE_ENDPOINTS, "", generation, now, previous))
    elif ever_ready:
        out.append(condition(T.READY, False, R.ZERO_SERVE_ENDPOINTS, "", generation, now, previous))
    else:
        out.append(condition(T.READY, False, R.INITIALIZING, "", generation, now, previous))
    if active and pending:
        out.append(condition(T.UPGRADE_IN_PROGRESS, True, R.BOTH_ACTIVE_PENDING_CLUSTERS_EXIST, "", generation, now,
                             previous))
    elif active:
        out.append(condition(T.UPGRADE_IN_PROGRESS, False, R.NO_PENDING_CLUSTER, "", generation, now, previous))
    elif pending:
        out.append(condition(T.UPGRADE_IN_PROGRESS, False, R.INITIALIZING, "", generation, now, previous))
    else:
        out.append(_unknown(T.UPGRADE_IN_PROGRESS, R.NO_ACTIVE_CLUSTER, "", generation, now, previous))
    for ctype in (T.ROLLBACK_IN_PROGRESS, T.SUSPENDING, T.SUSPENDED):
        if ctype in previous:
            out.append(condition(ctype, False, previous[ctype].get("reason") or R.RAY_SERVICE_RESUMED,
                                 previous[ctype].get("message", ""), generation, now, previous))
    if abandoned is not None:
        out.append(condition(ABANDONED, True, "UpgradeDeadlineExceeded", abandoned, generation, now, previous))
    elif ABANDONED in previous:
        out.append(condition(ABANDONED, False, "NewSpec", "the spec changed since the abandoned upgrade",
                             generation, now, previous))
    if shortfall is not None:
        out.append(condition(FITS, False, "InsufficientCapacity", shortfall, generation, now, previous))
    elif FITS in previous:
        out.append(condition(FITS, True, "Fits", "", generation, now, previous))
    if unsupported is not None:
        reason = "GatewayAPINotFound" if "no GatewayClass" in unsupported else "IncrementalNotImplemented"
        out.append(condition(STRATEGY, False, reason, unsupported, generation, now, previous))
    return out


def suspend_conditions(previous: dict[str, dict[str, Any]], generation: int, now: str,
                       done: bool) -> list[dict[str, Any]]:
    """While suspending (``done`` False) and once every cluster and Service is gone (``done`` True)."""
    if done:
        reason = R.SUSPEND_COMPLETE
        return [condition(T.READY, False, reason, "", generation, now, previous),
                condition(T.UPGRADE_IN_PROGRESS, False, reason, "", generation, now, previous),
                condition(T.ROLLBACK_IN_PROGRESS, False, reason, "", generation, now, previous),
                condition(T.SUSPENDING, False, reason, "", generation, now, previous),
                condition(T.SUSPENDED, True, reason, "", generation, now, previous)]
    reason = R.SUSPEND_IN_PROGRESS
    return [condition(T.READY, False, reason, "", generation, now, previous),
            condition(T.UPGRADE_IN_PROGRESS, False, reason, "", generation, now, previous),
            condition(T.ROLLBACK_IN_PROGRESS, False, reason, "", generation, now, previous),
            condition(T.SUSPENDING, True, R.SUSPEND_REQUESTED, "", generation, now, previous)]


def resumed_conditions(previous: dict[str, dict[str, Any]], generation: int, now: str) -> list[dict[str, Any]]:
    """KubeRay v1.7: resuming resets Ready and UpgradeInProgress to Initializing (re-arming the timeout)."""
    return [condition(T.READY, False, R.INITIALIZING, "", generation, now, {}),
            condition(T.UPGRADE_IN_PROGRESS, False, R.INITIALIZING, "", generation, now, {}),
            condition(T.SUSPENDING, False, R.RAY_SERVICE_RESUMED, "", generation, now, previous),
            condition(T.SUSPENDED, False, R.RAY_SERVICE_RESUMED, "", generation, now, previous)]
