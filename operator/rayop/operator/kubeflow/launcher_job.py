"""A replica type run as a ``batch/v1`` Job (MPIJob's launcher, as mpi-operator v2beta1 runs it), read back with
the training-operator v1 semantics (pure).

The Job ``{job}-{rtype}`` (``pi-launcher``) has the pod the engine would have built as its template (labels, env,
mounts, hostname ``{job}-{rtype}``, the gang gate) and says in Kubernetes' own terms what v1 says of that replica:

* ``restartPolicy`` Never: ``backoffLimit: 0`` — the first failure fails the replica, as v1 fails the job;
* OnFailure/Always: the Job restarts the container in place (``OnFailure``); ``backoffLimit`` is
  ``runPolicy.backoffLimit`` (unset: no limit, as in v1);
* ExitCode: pods run ``Never`` and a ``podFailurePolicy`` fails the Job on exit codes 1-127 of the default
  container (permanent) while 128 and more (killed by a signal) count as a retry, a new pod:
  ``IsRetryableExitCode`` in Kubernetes' words;
* ``activeDeadlineSeconds`` is passed through, so Kubernetes stops the launcher even while no operator runs
  (the engine's own deadline, counted from the job's earlier ``startTime``, decides the v1 message first);
* ``podReplacementPolicy: Failed``: a replacement starts only when the old pod is gone (one ``{job}-launcher``
  hostname at a time).

What the engine reads back (:func:`replica_counts`) is v1's replica status: the replica is the Job's newest pod
(a failed pod the Job replaced counts no more, as v1's delete-and-recreate under the same name), and a Job that
failed marks the replica ``exhausted`` (no retry left, so the job fails rather than restarts).
"""

from __future__ import annotations

import copy

from rayop.api.kubeflow_common import REPLICA_TYPE_LABEL, RestartPolicy
from rayop.api.types import MAX_INT32

from .framework import Body, Counts, JobView
from .observe import count, deleting

#: Exit codes a container chose (1-127); 128 and more are signals (``train_util.IsRetryableExitCode``).
PERMANENT_EXIT_CODES = list(range(1, 128))


def job_name(job: JobView, rtype: str) -> str:
    return f"{job.name}-{rtype.lower()}"


def build(job: JobView, rtype: str, pod: Body, labels: dict[str, str], default_container: str) -> Body:
    """The ``batch/v1`` Job running ``pod`` (built by the engine) as replica type ``rtype``."""
    r = job.replicas[rtype]
    name = job_name(job, rtype)
    template = copy.deepcopy(pod)
    spec = template["spec"]
    spec["hostname"] = name
    policy = job.run_policy
    job_spec: Body = {"podReplacementPolicy": "Failed"}
    if r.restart_policy == RestartPolicy.NEVER:
        spec["restartPolicy"] = "Never"
        job_spec["backoffLimit"] = 0
    elif r.restart_policy == RestartPolicy.EXIT_CODE:
        spec["restartPolicy"] = "Never"
        job_spec["backoffLimit"] = MAX_INT32 if policy.backoff_limit is None else policy.backoff_limit
        on_exit: Body = {"operator": "In", "values": PERMANENT_EXIT_CODES}
        if any(c.get("name") == default_container for c in spec.get("containers") or []):
            on_exit = {"containerName": default_container, **on_exit}
        job_spec["podFailurePolicy"] = {"rules": [{"action": "FailJob", "onExitCodes": on_exit}]}
    else:
        spec["restartPolicy"] = "OnFailure"
        job_spec["backoffLimit"] = MAX_INT32 if policy.backoff_limit is None else policy.backoff_limit
    if policy.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = policy.active_deadline_seconds
    meta = template.get("metadata") or {}
    job_spec["template"] = {"metadata": {k: meta[k] for k in ("labels", "annotations") if k in meta}, "spec": spec}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": {**labels, REPLICA_TYPE_LABEL: rtype.lower()}},
            "spec": job_spec}


def condition(batch_job: Body, ctype: str) -> Body | None:
    return next((c for c in (batch_job.get("status") or {}).get("conditions") or []
                 if c.get("type") == ctype and c.get("status") == "True"), None)


def failed(batch_job: Body) -> Body | None:
    """The Job's ``Failed=True`` condition, if it failed."""
    return condition(batch_job, "Failed")


def finished(batch_job: Body) -> bool:
    return condition(batch_job, "Complete") is not None or failed(batch_job) is not None


def replica_counts(pods: list[Body], batch_job: Body | None) -> Counts:
    """v1's counts of a replica type the Job runs: its newest pod's, ``exhausted`` once the Job failed."""
    live = [p for p in pods if not deleting(p)]
    newest = max(live, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""), default=None)
    c = count([newest] if newest is not None else [])
    if batch_job is not None and failed(batch_job) is not None:
        return Counts(0, c.succeeded, max(c.failed, 1), exhausted=True)
    return c


def limit_message(job: JobView, rtype: str, batch_job: Body) -> str | None:
    """A Job that Kubernetes failed for a runPolicy limit, in v1's words (None: the replica itself failed)."""
    cond = failed(batch_job)
    if cond is None:
        return None
    reason = cond.get("reason")
    if reason == "DeadlineExceeded":
        return f"Job {job.name} has failed because it was active longer than specified deadline"
    if (reason == "BackoffLimitExceeded" and job.run_policy.backoff_limit is not None
            and job.replicas[rtype].restart_policy != RestartPolicy.NEVER):
        return f"Job {job.name} has failed because it has reached the specified backoff limit"
    return None
