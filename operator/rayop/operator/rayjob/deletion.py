"""What to delete after a RayJob finished, and when: ``shutdownAfterJobFinishes`` + ``ttlSecondsAfterFinished``,
and ``deletionStrategy`` (legacy onSuccess/onFailure, or ``deletionRules`` applied in order of impact), as KubeRay's
``handleDeletionRules`` / ``handleLegacyDeletionPolicy`` (feature gate RayJobDeletionPolicy, beta and on).

Every deadline counts from ``status.endTime``, which is stored on the object: a restarted operator deletes at the
same moment. One overdue rule is carried out per pass, the most impactful first (Self > Cluster > Workers > None),
and the pass is requeued for the next deadline (+2 s, as KubeRay).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rayop.api.rayjob import DeletionPolicyType as P
from rayop.api.rayjob import JobDeploymentStatus as D
from rayop.api.rayjob import JobStatus as J

from .steps import DeleteCluster, DeleteSelf, DeletionAction, SuspendWorkers, parse_time

if TYPE_CHECKING:
    from rayop.api.rayjob import RayJob

    from .observe import Observed

IMPACT = {P.DELETE_SELF: 4, P.DELETE_CLUSTER: 3, P.DELETE_WORKERS: 2, P.DELETE_NONE: 1}


def _done(policy: str, observed: Observed) -> bool:
    cluster = observed.cluster
    if policy == P.DELETE_NONE:
        return True
    if policy == P.DELETE_CLUSTER:
        return cluster is None or bool(cluster.get("metadata", {}).get("deletionTimestamp"))
    if policy == P.DELETE_WORKERS:
        groups = ((cluster or {}).get("spec") or {}).get("workerGroupSpecs") or []
        return cluster is None or all(g.get("suspend") for g in groups)
    return False


def _action(policy: str, cluster_name: str) -> DeletionAction | None:
    actions: dict[str, DeletionAction] = {P.DELETE_CLUSTER: DeleteCluster(cluster_name),
                                          P.DELETE_WORKERS: SuspendWorkers(cluster_name), P.DELETE_SELF: DeleteSelf()}
    return actions.get(P(policy))


def _rules(job: RayJob, status: dict[str, Any]) -> list[tuple[str, int]]:
    """(policy, ttl seconds) of every rule that applies to how the job ended."""
    strategy = job.spec.deletion_strategy
    assert strategy is not None
    if strategy.deletion_rules:
        out = []
        for rule in strategy.deletion_rules:
            cond = rule.condition
            matches = (cond.job_status is not None and cond.job_status == status.get("jobStatus")) or (
                cond.job_deployment_status is not None
                and cond.job_deployment_status == status.get("jobDeploymentStatus"))
            if matches:
                out.append((rule.policy, int(cond.ttl_seconds or 0)))
        return out
    legacy = {str(J.SUCCEEDED): strategy.on_success, str(J.FAILED): strategy.on_failure}
    policy = legacy.get(str(status.get("jobStatus") or ""))
    if policy is None or policy.policy is None:
        return []
    return [(policy.policy, int(job.spec.ttl_seconds_after_finished or 0))]


def due_deletion(job: RayJob, status: dict[str, Any], observed: Observed,
                 now: dt.datetime) -> tuple[DeletionAction | None, float | None]:
    """The deletion to carry out now (or None) and the seconds until the next one is due (None: nothing left)."""
    ended = parse_time(status.get("endTime"))
    cluster_name = status.get("rayClusterName") or ""
    if ended is None or status.get("jobDeploymentStatus") not in (D.COMPLETE, D.FAILED):
        return None, None
    if job.spec.deletion_strategy is not None:
        rules = _rules(job, status)
    elif job.spec.shutdown_after_job_finishes:
        rules = [(P.DELETE_CLUSTER, int(job.spec.ttl_seconds_after_finished or 0))]
    else:
        return None, None
    overdue: list[str] = []
    wait: float | None = None
    for policy, ttl in rules:
        left = (ended + dt.timedelta(seconds=ttl) - now).total_seconds()
        if left > 0:
            wait = left + 2.0 if wait is None else min(wait, left + 2.0)
        elif not _done(policy, observed):
            overdue.append(policy)
    if not overdue:
        return None, wait
    policy = max(overdue, key=lambda p: IMPACT[P(p)])
    return _action(policy, cluster_name), (wait if wait is not None else 2.0)
