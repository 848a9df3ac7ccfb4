"""One pass of a training job, pure: the training-operator's ``ReconcileJobs`` / ``ReconcilePods`` /
``UpdateJobStatus`` as a function from (job, its pods and Services, now) to a status and the actions to take.

Order, as upstream: a finished job only cleans up (cleanPodPolicy, TTL); a suspended one deletes its pods; a
resumed one restarts its clock; then the backoff limit and the active deadline; then each replica type's pods are
planned by the shared pod-group engine (:mod:`rayop.operator.runtime.podgroups`, Kubeflow-indexed names): missing
indices are created, out-of-range ones deleted, failed pods the restart policy retries are deleted (and recreated
under the same name by a later pass); last the framework's rule sets Running/Succeeded/Failed/Restarting.
What runPolicy does around that (cleanPodPolicy, TTL, the limits) is :mod:`.run_policy`; the result it returns is
:class:`.actions.Plan`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from rayop.api.kubeflow_common import ConditionType as C
from rayop.api.kubeflow_common import RestartPolicy
from rayop.operator.runtime import podgroups as pg

from . import conditions as cond
from . import launcher_job
from .actions import Options, Plan, parse_ts, ts
from .framework import Body, Counts, Framework, JobView
from .observe import by_type, count, deleting, labels_of, phase, replacements
from .pods import build_pod, build_service, job_labels, pod_name
from .run_policy import cleanup, finished_now, job_limit, limit_failure, stop_jobs, ttl_cleanup


class _Member:
    """A pod as the pod-group engine reads it."""

    def __init__(self, pod: Body, retry: bool) -> None:
        self.pod = pod
        self._retry = retry

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"].get("uid", ""))

    @property
    def replica_name(self) -> str | None:
        return None

    @property
    def replica_index(self) -> int | None:
        value = labels_of(self.pod)["index"]
        return int(value) if value is not None and value.isdigit() else None

    @property
    def host_index(self) -> int | None:
        return 0

    @property
    def running_and_ready(self) -> bool:
        return phase(self.pod) == "Running"

    @property
    def deleting(self) -> bool:
        return deleting(self.pod)

    @property
    def created(self) -> str:
        return str(self.pod["metadata"].get("creationTimestamp", ""))

    def should_delete(self) -> bool:
        return self._retry


def retryable(fw: Framework, restart: RestartPolicy, pod: Body) -> bool:
    """``ReconcilePods``: a Failed pod is deleted (and recreated) under OnFailure/Always, and under ExitCode when
    the default container's exit code is 128 or more (killed by a signal: ``IsRetryableExitCode``)."""
    from .framework import exit_code

    if phase(pod) != "Failed" or deleting(pod):
        return False
    if restart in (RestartPolicy.ON_FAILURE, RestartPolicy.ALWAYS):
        return True
    if restart == RestartPolicy.EXIT_CODE:
        code = exit_code(pod, fw.default_container)
        return code is not None and code >= 128
    return False


def replica_selector(fw: Framework, job: JobView, rtype: str) -> tuple[str, Body]:
    from rayop.api.kubeflow_common import REPLICA_TYPE_LABEL

    labels = {**job_labels(fw, job), REPLICA_TYPE_LABEL: rtype.lower()}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())), {"matchLabels": labels}


def replica_statuses(fw: Framework, job: JobView, counts: Mapping[str, Counts]) -> Body:
    out = {}
    for rtype in job.replicas:
        c = counts.get(rtype, Counts())
        selector, label_selector = replica_selector(fw, job, rtype)
        out[rtype] = {"active": c.active, "succeeded": c.succeeded, "failed": c.failed,
                      "labelSelector": label_selector, "selector": selector}
    return out


def plan_job(fw: Framework, job: JobView, pods: list[Body], services: Mapping[str, Body], now: dt.datetime,
             opts: Options, jobs: Mapping[str, Body] | None = None) -> Plan:
    """``jobs``: the job's own ``batch/v1`` Jobs by name (frameworks with ``job_roles``); ``pods`` includes theirs."""
    jobs = jobs or {}
    prev: Body = job.body.get("status") or {}
    status: Body = {k: v for k, v in prev.items() if k in ("conditions", "replicaStatuses", "startTime",
                                                          "completionTime", "lastReconcileTime")}
    conds: list[Body] = list(status.get("conditions") or [])
    stamp = ts(now)
    kind, name, ns = job.kind, job.name, job.namespace
    plan = Plan(status=status, namespace=ns)
    if cond.find(conds, C.CREATED) is None:
        conds = cond.update(conds, C.CREATED, f"{kind}Created", f"{kind} {name} is created.", stamp)
        plan.metrics.append("created")
    pods_by_type = by_type(pods)
    counts = {rt: count(pods_by_type.get(rt.lower(), [])) for rt in job.replicas}
    for rt in fw.job_roles:
        if rt in job.replicas:
            counts[rt] = launcher_job.replica_counts(pods_by_type.get(rt.lower(), []),
                                                     jobs.get(launcher_job.job_name(job, rt)))

    def finish() -> Plan:
        status["conditions"] = conds
        return plan

    if cond.is_finished(conds):
        plan.active = False
        cleanup(plan, pods, job.clean_pod_policy, finished=True)
        stop_jobs(plan, fw, job, jobs, finished=True)
        if cond.is_true(conds, C.SUCCEEDED):
            rs = dict(status.get("replicaStatuses") or {})
            for rt, r in rs.items():
                rs[rt] = {**r, "succeeded": int(r.get("succeeded") or 0) + int(r.get("active") or 0), "active": 0}
            status["replicaStatuses"] = rs
        ttl_cleanup(plan, job, status, now)
        return finish()

    if job.run_policy.suspend:
        plan.active = False
        cleanup(plan, pods, job.clean_pod_policy, finished=False)
        stop_jobs(plan, fw, job, jobs, finished=False)
        rs = dict(status.get("replicaStatuses") or replica_statuses(fw, job, counts))
        status["replicaStatuses"] = {rt: {**r, "active": 0} for rt, r in rs.items()}
        msg = f"{kind} {name} is suspended."
        if cond.is_true(conds, C.RUNNING):
            conds = cond.update(conds, C.RUNNING, f"{kind}Suspended", msg, stamp, status=False)
        if not cond.is_true(conds, C.SUSPENDED):
            conds = cond.update(conds, C.SUSPENDED, f"{kind}Suspended", msg, stamp)
            plan.events.append(("Normal", f"{kind}Suspended", msg))
        return finish()
    if cond.is_true(conds, C.SUSPENDED):
        msg = f"{kind} {name} is resumed."
        conds = cond.update(conds, C.SUSPENDED, f"{kind}Resumed", msg, stamp, status=False)
        status["startTime"] = stamp
        plan.events.append(("Normal", f"{kind}Resumed", msg))
    if not status.get("startTime"):
        status["startTime"] = stamp
    status["lastReconcileTime"] = stamp

    # -- limits (ReconcileJobs) -----------------------------------------------------------------------------------
    retry = {p["metadata"]["name"]: retryable(fw, job.replicas[fw.camel(labels_of(p)["rtype"] or "")].restart_policy, p)
             for p in pods if fw.camel(labels_of(p)["rtype"] or "") in job.replicas
             and fw.camel(labels_of(p)["rtype"] or "") not in fw.job_roles}  # a Job replaces its own pods
    failure = limit_failure(fw, job, pods, services, counts, retry, prev, status, now) or job_limit(fw, job, jobs)
    if failure:
        status.setdefault("completionTime", stamp)
        status["replicaStatuses"] = replica_statuses(fw, job, counts)
        cleanup(plan, pods, job.clean_pod_policy, finished=False)
        stop_jobs(plan, fw, job, jobs, finished=False)
        conds = cond.update(conds, C.FAILED, f"{kind}Failed", failure, stamp)
        plan.events.append(("Normal", f"{kind}Failed", failure))
        plan.metrics.append("failed")
        ttl_cleanup(plan, job, status, now)
        return finish()

    # -- pods and services (ReconcilePods / ReconcileServices) ----------------------------------------------------
    budget = pg.CreateBudget(opts.max_creates)
    complete = True
    restarted: dict[str, int] = {}
    for rtype, r in job.replicas.items():
        if rtype in fw.job_roles:
            complete = _plan_job_role(plan, fw, job, rtype, pods_by_type.get(rtype.lower(), []), jobs, opts) \
                and complete
            continue
        group = f"{name}-{rtype.lower()}"
        members = [_Member(p, retry.get(p["metadata"]["name"], False)) for p in pods_by_type.get(rtype.lower(), [])]
        gplan = pg.plan_group(pg.GroupSpec(group, r.replicas, naming=pg.Naming.INDEXED), members, budget)
        for removal in gplan.deletes:
            pod = removal.member.pod
            plan.delete_pods.append((rtype, pod))
            if removal.cause is pg.Cause.UNHEALTHY:
                restarted[rtype] = restarted.get(rtype, 0) + 1
                svc = services.get(pod["metadata"]["name"])
                done = replacements(svc) if svc is not None else 0
                plan.count_replacements.append((pod["metadata"]["name"], done + 1))
        for creation in gplan.creates:
            index = creation.replica_index or 0
            svc = services.get(pod_name(name, rtype, index))
            plan.create_pods.append((rtype, build_pod(fw, job, rtype, index, cluster_domain=opts.cluster_domain,
                                                      gang=opts.gang,
                                                      replaced=replacements(svc) if svc is not None else 0)))
        if gplan.creates or gplan.deletes or gplan.deferred:
            complete = False
        if fw.per_pod_services:
            for index in range(r.replicas):
                if pod_name(name, rtype, index) not in services:
                    plan.create_services.append(build_service(fw, job, rtype, index))
    plan.complete = complete
    for rtype in restarted:
        msg = f"job {name} is restarting because {rtype} replica(s) failed."
        conds = cond.update(conds, C.RESTARTING, f"{kind}Restarting", msg, stamp)
        plan.events.append(("Warning", f"{kind}Restarting", msg))
        plan.metrics.append("restarted")

    # -- the framework's verdict (UpdateJobStatus) ------------------------------------------------------------
    status["replicaStatuses"] = replica_statuses(fw, job, counts)
    v = fw.verdict(job, counts, pods, conds)
    if v.running:
        conds = cond.update(conds, C.RUNNING, f"{kind}Running", f"{kind} {ns}/{name} is running.", stamp)
    if v.succeeded:
        msg = f"{kind} {ns}/{name} successfully completed."
        status.setdefault("completionTime", stamp)
        conds = cond.update(conds, C.SUCCEEDED, f"{kind}Succeeded", msg, stamp)
        plan.events.append(("Normal", f"{kind}Succeeded", msg))
        plan.metrics.append("successful")
        finished_now(plan, fw, job, pods, jobs, status, now)
    elif v.restarting is not None:
        rt, n = v.restarting
        msg = f"{kind} {name} is restarting because {n} {rt} replica(s) failed."
        if restarted:  # the pod-level restart of this pass stays the reason (upstream re-adds it)
            rt = next(iter(restarted))
            msg = f"job {name} is restarting because {rt} replica(s) failed."
        elif not cond.is_true(conds, C.RESTARTING):
            plan.events.append(("Warning", f"{kind}Restarting", msg))
            plan.metrics.append("restarted")
        conds = cond.update(conds, C.RESTARTING, f"{kind}Restarting", msg, stamp)
    elif v.failed is not None:
        rt, n = v.failed
        msg = f"{kind} {ns}/{name} has failed because {n} {rt} replica(s) failed."
        status.setdefault("completionTime", stamp)
        conds = cond.update(conds, C.FAILED, f"{kind}Failed", msg, stamp)
        plan.events.append(("Normal", f"{kind}Failed", msg))
        plan.metrics.append("failed")
        finished_now(plan, fw, job, pods, jobs, status, now)
    deadline = job.run_policy.active_deadline_seconds
    started = parse_ts(status.get("startTime"))
    if plan.active and deadline is not None and started is not None:
        left = (started + dt.timedelta(seconds=deadline) - now).total_seconds()
        plan.requeue_after = max(left, 0.5) if plan.requeue_after is None else min(plan.requeue_after, left)
    return finish()


def _plan_job_role(plan: Plan, fw: Framework, job: JobView, rtype: str, pods: list[Body],
                   jobs: Mapping[str, Body], opts: Options) -> bool:
    """A replica type run as a ``batch/v1`` Job: create the Job when it is missing; True when its pod exists (or
    the Job is done), i.e. the gang may be admitted with it."""
    bj = jobs.get(launcher_job.job_name(job, rtype))
    if bj is None:
        pod = build_pod(fw, job, rtype, 0, cluster_domain=opts.cluster_domain, gang=opts.gang)
        plan.create_jobs.append(launcher_job.build(job, rtype, pod, job_labels(fw, job), fw.default_container))
        return False
    if deleting(bj):
        return False  # the old Job (suspended, or recreated by its user) is going; a new one follows
    return launcher_job.finished(bj) or any(not deleting(p) for p in pods)
