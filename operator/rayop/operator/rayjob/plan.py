"""One step of a RayJob's state machine, decided from the spec, the stored status and what the caches and the job
poller show (no I/O): KubeRay's ``rayjob_controller.go`` as a pure function.

New → Initializing → (Waiting) → Running → Complete | Failed, with Suspending/Suspended and Retrying. A step
returns the whole next status and typed actions; the controller writes the status *before* it acts whenever the
step fixes a name or an id (submission id, cluster name), so a restarted operator reuses them and never runs a job
twice. Differences from KubeRay, on purpose:

* a spec that failed validation recovers when it is fixed (KubeRay's ValidationFailed is a dead end);
* pods that cannot start (image pull errors, crash loops, unschedulable) past a startup deadline fail the job with
  reason ``RayClusterStartupFailed`` naming the pod, instead of Initializing forever;
* job status comes from a bounded poller; a pass never calls the dashboard.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rayop.api.rayjob import JobDeploymentStatus as D
from rayop.api.rayjob import JobFailedReason as R
from rayop.api.rayjob import JobStatus as J
from rayop.api.rayjob import RayJob, SubmissionMode

from .deletion import due_deletion
from .observe import Observed, startup_failure
from .steps import (
    STARTUP_FAILED,
    TERMINAL_DEPLOYMENT,
    TERMINAL_JOB,
    Action,
    CreateCluster,
    CreateSubmitter,
    DeleteChildren,
    EnsureJobHeadService,
    Event,
    Step,
    StopJob,
    SubmitJob,
    Timing,
    parse_time,
    random_suffix,
    rfc3339,
)


def is_selected_cluster(job: RayJob) -> bool:
    return bool(job.spec.cluster_selector)


def _fail(status: dict[str, Any], reason: str, message: str, now: dt.datetime) -> None:
    status.update(jobDeploymentStatus=D.FAILED, reason=reason, message=message, endTime=rfc3339(now))


def _deadlines(job: RayJob, status: dict[str, Any], now: dt.datetime, *, pre_running: bool) -> tuple[str, str] | None:
    start = parse_time(status.get("startTime"))
    if start is None:
        return None
    active = job.spec.active_deadline_seconds
    if active is not None and now >= start + dt.timedelta(seconds=active):
        return (R.DEADLINE_EXCEEDED, f"The RayJob has passed the activeDeadlineSeconds. StartTime: "
                                     f"{status['startTime']}. ActiveDeadlineSeconds: {active}")
    pre = job.spec.pre_running_deadline_seconds
    if pre_running and pre is not None and now >= start + dt.timedelta(seconds=pre):
        return (R.PRE_RUNNING_DEADLINE_EXCEEDED, f"The RayJob has passed the preRunningDeadlineSeconds. StartTime: "
                                                 f"{status['startTime']}. PreRunningDeadlineSeconds: {pre}")
    return None


def _seconds_left(job: RayJob, status: dict[str, Any], now: dt.datetime) -> float | None:
    start = parse_time(status.get("startTime"))
    limits = [s for s in (job.spec.active_deadline_seconds, job.spec.pre_running_deadline_seconds) if s is not None]
    if start is None or not limits:
        return None
    return max(0.0, min((start + dt.timedelta(seconds=s) - now).total_seconds() for s in limits)) + 0.5


DEFAULT_TIMING = Timing()


def step(job: RayJob, observed: Observed, now: dt.datetime, timing: Timing = DEFAULT_TIMING) -> Step:
    """The next status and actions for ``job`` (``job.status`` as stored is the previous one)."""
    previous: dict[str, Any] = dict(observed.status)
    status = dict(previous)
    state = status.get("jobDeploymentStatus") or D.NEW
    if state == D.VALIDATION_FAILED:  # the spec was fixed (validation passed before this step): start over
        state = D.NEW
        status.update(jobDeploymentStatus=D.NEW, reason=None, message=None)
    handler = _STATES.get(state)
    if handler is None:
        return Step(status).after(3.0)
    out = handler(job, observed, status, now, timing)
    _count_attempt(job, previous, out)
    if out.status.get("jobDeploymentStatus") != previous.get("jobDeploymentStatus"):
        # The status write of a transition does not wake the object (status-only changes need no pass), so the
        # new state's first step is requeued here: a finished job computes its deletion deadlines at once.
        out.after(0.5)
    return out


def _new(job: RayJob, observed: Observed, status: dict[str, Any], now: dt.datetime, timing: Timing) -> Step:
    interactive = job.spec.submission_mode == SubmissionMode.INTERACTIVE_MODE
    selector = job.spec.cluster_selector or {}
    status.update(
        jobId=None if interactive else (job.spec.job_id or f"{job.name}-{random_suffix()}"),
        rayClusterName=selector.get("ray.io/cluster") or f"{job.name}-{random_suffix()}",
        jobStatus=J.NEW, jobDeploymentStatus=D.INITIALIZING, startTime=rfc3339(now), endTime=None,
        reason=None, message=None)
    step_ = Step(status, write_first=True)
    step_.actions.append(Event("Normal", "Initializing",
                               f"Initializing RayJob with RayCluster {status['rayClusterName']}"))
    return step_.after(0.0)


def _initializing(job: RayJob, observed: Observed, status: dict[str, Any], now: dt.datetime,
                  timing: Timing) -> Step:
    if job.spec.suspend and not is_selected_cluster(job):
        status["jobDeploymentStatus"] = D.SUSPENDING
        return Step(status).after(0.0)
    expired = _deadlines(job, status, now, pre_running=True)
    if expired:
        _fail(status, *expired, now)
        return Step(status)
    out = Step(status)
    if observed.cluster is None:
        if is_selected_cluster(job):
            out.actions.append(Event("Warning", "RayClusterNotFound",
                                     f"RayCluster {job.namespace}/{status['rayClusterName']} set by clusterSelector "
                                     "was not found"))
            return out.after(5.0)
        out.actions.append(CreateCluster(status["rayClusterName"]))
        return out
    cluster_status = observed.cluster.get("status") or {}
    status["rayClusterStatus"] = cluster_status
    failure = startup_failure(observed.pods, status.get("startTime"), now, timing.startup_deadline_s)
    if failure is not None:
        _fail(status, STARTUP_FAILED, failure, now)
        return out
    if cluster_status.get("state") != "ready":
        left = _seconds_left(job, status, now)
        return out.after(min(left, 30.0)) if left is not None else out.after(30.0)
    status["dashboardURL"] = observed.dashboard_url
    if job.spec.submission_mode == SubmissionMode.INTERACTIVE_MODE:
        status["jobDeploymentStatus"] = D.WAITING
        return out.after(0.0)
    if job.spec.submission_mode == SubmissionMode.K8S_JOB_MODE and observed.submitter is None:
        out.actions.append(CreateSubmitter())
    status["jobDeploymentStatus"] = D.RUNNING
    out.actions.append(Event("Normal", "Running", f"RayJob is running on RayCluster {status['rayClusterName']}"))
    return out.after(0.0)


def _waiting(job: RayJob, observed: Observed, status: dict[str, Any], now: dt.datetime, timing: Timing) -> Step:
    expired = _deadlines(job, status, now, pre_running=True)
    if expired:
        _fail(status, *expired, now)
        return Step(status)
    if not job.spec.job_id:
        left = _seconds_left(job, status, now)
        return Step(status).after(left) if left is not None else Step(status)
    status.update(jobId=job.spec.job_id, jobDeploymentStatus=D.RUNNING)
    return Step(status, write_first=True).after(0.0)


def _submitter_outcome(job: RayJob, observed: Observed) -> tuple[bool, dt.datetime | None, str | None]:
    """(finished, when, failure message) of the submitter in K8sJobMode (Job) or SidecarMode (head container)."""
    if job.spec.submission_mode == SubmissionMode.K8S_JOB_MODE and observed.submitter is not None:
        for cond in (observed.submitter.get("status") or {}).get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed", "FailureTarget"):
                failed = None if cond["type"] == "Complete" else (
                    f"Job submission has failed. Reason: {cond.get('reason', '')}. Message: {cond.get('message', '')}")
                return True, parse_time(cond.get("lastTransitionTime")), failed
    if job.spec.submission_mode == SubmissionMode.SIDECAR_MODE and observed.sidecar_exit is not None:
        code, reason, finished = observed.sidecar_exit
        failed = None if code == 0 else (
            f"Ray head pod container ray-job-submitter terminated with exit code {code}: {reason}")
        return True, finished, failed
    return False, None, None


def _running(job: RayJob, observed: Observed, status: dict[str, Any], now: dt.datetime, timing: Timing) -> Step:
    out = Step(status)
    if job.spec.suspend and not is_selected_cluster(job):
        status["jobDeploymentStatus"] = D.SUSPENDING
        return out.after(0.0)
    expired = _deadlines(job, status, now, pre_running=False)
    if expired:
        _fail(status, *expired, now)
        if status.get("jobStatus") not in TERMINAL_JOB:
            out.actions.append(StopJob())
        return out
    if observed.cluster is not None:
        status["rayClusterStatus"] = observed.cluster.get("status") or {}
        if not is_selected_cluster(job):
            out.actions.append(EnsureJobHeadService())
    sidecar = job.spec.submission_mode == SubmissionMode.SIDECAR_MODE
    if sidecar and observed.cluster is not None and observed.head_missing:
        _fail(status, R.APP_FAILED, "Ray head pod not found.", now)
        return out
    if job.spec.submission_mode == SubmissionMode.K8S_JOB_MODE and observed.submitter is None:
        out.actions.append(CreateSubmitter())
    finished, finished_at, submit_failure = _submitter_outcome(job, observed)
    poll = observed.job_info
    info = poll.value if poll is not None and poll.value is not None else None
    if submit_failure is not None and (info is None or info.status not in TERMINAL_JOB):
        reason = R.APP_FAILED if status.get("jobStatus") == J.FAILED else R.SUBMISSION_FAILED
        _fail(status, reason, submit_failure, now)
        return out
    if poll is not None and not poll.ok:
        # The first failure time lives on the object, so an operator restart does not restart the timeout.
        since = parse_time(status.get("jobStatusCheckFailureStartTime")) or now
        status["jobStatusCheckFailureStartTime"] = rfc3339(since)
        if (now - since).total_seconds() >= timing.status_check_timeout_s:
            _fail(status, R.JOB_STATUS_CHECK_TIMEOUT_EXCEEDED,
                  f"Job status checks have been failing since {rfc3339(since)}; exceeded timeout of "
                  f"{int(timing.status_check_timeout_s)}s", now)
            return out
        # The poller wakes this job when an answer comes; the requeue only brings the timeout's deadline.
        left = timing.status_check_timeout_s - (now - since).total_seconds()
        return out.after(_bounded(job, status, now, left))
    if poll is not None and poll.ok:
        status["jobStatusCheckFailureStartTime"] = None
    if poll is None or (poll.ok and info is None):  # not polled yet, or the job does not exist (404)
        if job.spec.submission_mode == SubmissionMode.HTTP_MODE and poll is not None:
            out.actions.append(SubmitJob())
        elif (finished and finished_at is not None
              and (now - finished_at).total_seconds() >= timing.submitter_finished_timeout_s):
            _fail(status, R.APP_FAILED, "Submitter completed but Ray job not found in RayCluster.", now)
            return out
        return out.after(2.0)
    assert info is not None
    status.update(jobStatus=info.status, message=info.message or status.get("message"),
                  rayJobInfo={"startTime": _ms(info.start_time), "endTime": _ms(info.end_time)})
    if info.status in TERMINAL_JOB:
        needs_submitter = job.spec.submission_mode in (SubmissionMode.K8S_JOB_MODE, SubmissionMode.SIDECAR_MODE)
        if needs_submitter and not finished:
            ended = info.end_time / 1000 if info.end_time else None
            if ended is not None and now.timestamp() - ended >= timing.transition_grace_s:
                status.update(jobDeploymentStatus=D.FAILED if info.status == J.FAILED else D.COMPLETE,
                              reason=R.JOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_EXCEEDED, endTime=rfc3339(now),
                              message="The RayJob's submitter did not finish within the transition grace period")
                return out
            return out.after(2.0)
        where = logs_hint(job, status)
        if info.status == J.FAILED:
            _fail(status, R.APP_FAILED, f"{info.message or 'The Ray job failed.'} {where}", now)
        else:
            status.update(jobDeploymentStatus=D.COMPLETE, endTime=rfc3339(now),
                          message=f"{info.message or 'Job finished.'} {where}")
        out.actions.append(Event("Normal" if info.status != J.FAILED else "Warning",
                                 "Completed" if info.status != J.FAILED else "Failed",
                                 f"Ray job {status.get('jobId')} ended {info.status}. {where}"))
        return out
    # Running: the poller wakes the job on every change of its status; the requeue only brings a deadline.
    return out.after(_bounded(job, status, now, 60.0))


def _bounded(job: RayJob, status: dict[str, Any], now: dt.datetime, seconds: float) -> float:
    """``seconds``, or sooner if a deadline of the job falls before then."""
    left = _seconds_left(job, status, now)
    return max(0.5, min(seconds, left) if left is not None else seconds)


def logs_hint(job: RayJob, status: dict[str, Any]) -> str:
    """Where a pipeline reads the job's output: the closing message says it (rayop's; KubeRay's is Ray's alone)."""
    mode = job.spec.submission_mode
    if mode == SubmissionMode.K8S_JOB_MODE:
        return f"Logs: kubectl logs -n {job.namespace} job/{job.name}"
    if mode == SubmissionMode.SIDECAR_MODE:
        return (f"Logs: kubectl logs -n {job.namespace} -l ray.io/cluster={status.get('rayClusterName')},"
                f"ray.io/node-type=head -c ray-job-submitter")
    return f"Logs: ray job logs {status.get('jobId')} --address http://{status.get('dashboardURL')}"


def _ms(value: int | None) -> str | None:
    return rfc3339(dt.datetime.fromtimestamp(value / 1000, dt.UTC)) if value else None


def _cleanup(job: RayJob, observed: Observed, status: dict[str, Any], now: dt.datetime, timing: Timing) -> Step:
    """Suspending and Retrying: delete the cluster and submitter, wait until they are gone, reset the status."""
    state = status["jobDeploymentStatus"]
    own_cluster = not is_selected_cluster(job)
    if (own_cluster and observed.cluster is not None) or observed.submitter is not None:
        return Step(status, [DeleteChildren(cluster=own_cluster, submitter=True)]).after(1.0)
    for key in ("rayClusterStatus", "rayClusterName", "dashboardURL", "jobId", "message", "reason", "rayJobInfo",
                "jobStatusCheckFailureStartTime"):
        status[key] = None
    status["jobStatus"] = J.NEW
    status["jobDeploymentStatus"] = D.SUSPENDED if state == D.SUSPENDING else D.NEW
    out = Step(status, write_first=True)
    if state == D.SUSPENDING:
        out.actions.append(Event("Normal", "Suspended", "RayJob suspended: its RayCluster and submitter are deleted"))
        return out
    return out.after(0.0)


def _suspended(job: RayJob, observed: Observed, status: dict[str, Any], now: dt.datetime, timing: Timing) -> Step:
    if job.spec.suspend:
        return Step(status)
    status.update(jobDeploymentStatus=D.NEW, jobStatus=J.NEW)
    return Step(status, write_first=True).after(0.0)


def _finished(job: RayJob, observed: Observed, status: dict[str, Any], now: dt.datetime, timing: Timing) -> Step:
    out = Step(status)
    if is_selected_cluster(job):
        return out
    action, wait = due_deletion(job, status, observed, now)
    if action is not None:
        out.actions.append(action)
    return out.after(wait) if wait is not None else out


_STATES = {
    D.NEW: _new, D.INITIALIZING: _initializing, D.WAITING: _waiting, D.RUNNING: _running,
    D.SUSPENDING: _cleanup, D.RETRYING: _cleanup, D.SUSPENDED: _suspended,
    D.COMPLETE: _finished, D.FAILED: _finished,
}


def _count_attempt(job: RayJob, previous: dict[str, Any], out: Step) -> None:
    """KubeRay's ``checkBackoffLimitAndUpdateStatusIfNeeded``: count a transition into Failed/Complete once, and
    retry a failed attempt on a fresh cluster while ``backoffLimit`` allows (never after a deadline)."""
    before, after = previous.get("jobDeploymentStatus"), out.status.get("jobDeploymentStatus")
    if after == before or after not in TERMINAL_DEPLOYMENT:
        return
    if after == D.FAILED:
        out.status["failed"] = int(previous.get("failed") or 0) + 1
        limit = job.spec.backoff_limit or 0
        no_retry = out.status.get("reason") in (R.DEADLINE_EXCEEDED, R.JOB_STATUS_CHECK_TIMEOUT_EXCEEDED)
        if out.status["failed"] < limit + 1 and not no_retry:
            out.status["jobDeploymentStatus"] = D.RETRYING
            out.actions.append(Event("Normal", "Retrying", f"Retrying the RayJob: attempt {out.status['failed'] + 1}"
                                                           f" of {limit + 1} on a new RayCluster"))
            out.after(0.0)
    elif out.status.get("jobStatus") == J.SUCCEEDED:
        out.status["succeeded"] = int(previous.get("succeeded") or 0) + 1


__all__ = [
    "STARTUP_FAILED", "TERMINAL_DEPLOYMENT", "TERMINAL_JOB", "Action", "CreateCluster", "CreateSubmitter",
    "DeleteChildren", "EnsureJobHeadService", "Event", "Step", "StopJob", "SubmitJob", "Timing", "logs_hint",
    "parse_time", "random_suffix", "rfc3339", "step",
]
