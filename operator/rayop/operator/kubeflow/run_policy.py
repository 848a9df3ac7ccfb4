"""``runPolicy`` around a job's replicas, pure: cleanPodPolicy, the TTL after finishing, backoffLimit and
activeDeadlineSeconds with the training-operator's messages, and stopping the ``batch/v1`` Jobs of replica types run
as Jobs (MPI's launcher) when their pods go."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from rayop.api.kubeflow_common import CleanPodPolicy, RestartPolicy

from . import launcher_job
from .actions import Plan, parse_ts
from .framework import Body, Counts, Framework, JobView
from .observe import deleting, labels_of, phase, replacements, restart_count


def cleanup(plan: Plan, pods: list[Body], policy: CleanPodPolicy, finished: bool) -> None:
    """``DeletePodsAndServices``: finished + None deletes nothing, Running deletes Running and Pending pods,
    All (or not finished: suspension, a limit) deletes every pod; each pod's same-named Service goes with it."""
    if finished and policy == CleanPodPolicy.NONE:
        return
    for pod in pods:
        if deleting(pod):
            continue
        if finished and policy == CleanPodPolicy.RUNNING and phase(pod) not in ("Running", "Pending"):
            continue
        plan.delete_pods.append((labels_of(pod)["rtype"] or "", pod))
        plan.delete_services.append(pod["metadata"]["name"])


def stop_jobs(plan: Plan, fw: Framework, job: JobView, jobs: Mapping[str, Body], finished: bool) -> None:
    """After :func:`cleanup`: a replica type's Job that is not finished would replace the pods just deleted, so it
    goes too — always when the job is suspended or stopped by a limit, after a finish when its pods are deleted."""
    doomed = {labels_of(p)["rtype"] for _, p in plan.delete_pods}
    for rtype in fw.job_roles:
        name = launcher_job.job_name(job, rtype)
        bj = jobs.get(name)
        if bj is None or deleting(bj) or launcher_job.finished(bj) or name in plan.delete_jobs:
            continue
        if not finished or rtype.lower() in doomed:
            plan.delete_jobs.append(name)


def ttl_cleanup(plan: Plan, job: JobView, status: Body, now: dt.datetime) -> None:
    """``CleanupJob``: delete the job ``ttlSecondsAfterFinished`` after its completion time."""
    ttl = job.run_policy.ttl_seconds_after_finished
    done = parse_ts(status.get("completionTime"))
    if ttl is None or done is None:
        return
    left = (done + dt.timedelta(seconds=ttl) - now).total_seconds()
    if left <= 0:
        plan.delete_job = True
        plan.metrics.append("deleted")
    else:
        plan.requeue_after = left


def finished_now(plan: Plan, fw: Framework, job: JobView, pods: list[Body], jobs: Mapping[str, Body], status: Body,
                  now: dt.datetime) -> None:
    """The job finished in this pass: apply cleanPodPolicy now (no later event may come to do it), drop any
    creations and deletions planned before the verdict, and start the TTL."""
    plan.active = False
    plan.create_pods, plan.create_services, plan.count_replacements = [], [], []
    plan.delete_pods, plan.delete_services, plan.create_jobs = [], [], []
    cleanup(plan, pods, job.clean_pod_policy, finished=True)
    stop_jobs(plan, fw, job, jobs, finished=True)
    ttl_cleanup(plan, job, status, now)


def job_limit(fw: Framework, job: JobView, jobs: Mapping[str, Body]) -> str | None:
    """A replica type's Job that Kubernetes stopped for a runPolicy limit, with v1's message."""
    for rtype in fw.job_roles:
        bj = jobs.get(launcher_job.job_name(job, rtype))
        msg = launcher_job.limit_message(job, rtype, bj) if bj is not None and rtype in job.replicas else None
        if msg:
            return msg
    return None


def limit_failure(fw: Framework, job: JobView, pods: list[Body], services: Mapping[str, Body],
                   counts: Mapping[str, Counts], retry: Mapping[str, bool], prev: Body, status: Body,
                   now: dt.datetime) -> str | None:
    """backoffLimit (a new failure beyond the limit, or container restarts reaching it) and activeDeadlineSeconds,
    with the training-operator's messages."""
    limit = job.run_policy.backoff_limit
    if limit is not None:
        prev_failed = sum(int(r.get("failed") or 0) for r in (prev.get("replicaStatuses") or {}).values())
        failed = sum(c.failed for c in counts.values())
        active = sum(c.active for c in counts.values())
        recreated = sum(replacements(s) for s in services.values())
        new_failure = failed > prev_failed or any(retry.values())
        exceeds = new_failure and active != job.total_replicas and recreated + 1 > limit
        restarts = sum(restart_count(p) for p in pods if phase(p) == "Running" and job.replicas.get(
            fw.camel(labels_of(p)["rtype"] or ""), None) is not None and job.replicas[
            fw.camel(labels_of(p)["rtype"] or "")].restart_policy != RestartPolicy.NEVER)
        past = restarts >= limit and (limit > 0 or restarts > 0)
        if exceeds or past:
            return f"Job {job.name} has failed because it has reached the specified backoff limit"
    deadline = job.run_policy.active_deadline_seconds
    started = parse_ts(status.get("startTime"))
    if deadline is not None and started is not None and (now - started).total_seconds() >= deadline:
        return f"Job {job.name} has failed because it was active longer than specified deadline"
    return None
