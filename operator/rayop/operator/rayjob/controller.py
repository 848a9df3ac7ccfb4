"""The RayJob controller: gather what the caches and the job poller show, take one step of the state machine
(:mod:`.plan`, pure), write the status, carry out the step's actions.

It watches RayClusters, submitter Jobs and Ray pods through the *shared* informers (the RayClusters and pods are the
ones the RayCluster controller already watches: no extra watch). Ray's job API is called only from the poller and
from one-shot background calls, so a head that never answers costs no pass anything. The finalizer
``ray.io/rayjob-finalizer`` stops a job that is still running when its RayJob is deleted.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import aiohttp
from pydantic import ValidationError

from rayop.api import labels as L
from rayop.api.rayjob import JobDeploymentStatus as D
from rayop.api.rayjob import RayJob, SubmissionMode
from rayop.kube.informers import Resource
from rayop.operator.raycluster.children import PODS
from rayop.operator.raycluster.controller import OPERATOR_VERSION
from rayop.operator.runtime.controller import Key, Result, Watch, managed_here, needs_pass_on_change, owner_by_reference
from rayop.operator.runtime.oneshot import OneShot
from rayop.operator.runtime.poller import Poller
from rayop.operator.runtime.runner import Context

from . import actions
from .dashboard import HttpJobApi, JobInfo
from .observe import JobPoll, Observed
from .plan import TERMINAL_JOB, Timing, step
from .reach import dashboard_target
from .validation import validate_rayjob

logger = logging.getLogger("rayop.rayjob")

FINALIZER = "ray.io/rayjob-finalizer"
STARTUP_DEADLINE_ANNOTATION = "rayop.io/startup-deadline-seconds"
RAYCLUSTERS = Watch(Resource("ray.io/v1", "rayclusters"), owner_by_reference("RayJob"))
SUBMITTERS = Watch(Resource("batch/v1", "jobs", f"{L.RAY_ORIGINATED_FROM_CRD}=RayJob"), owner_by_reference("RayJob"))
#: Status fields that count as a change in substance.
COMPARED = ("jobId", "rayClusterName", "dashboardURL", "jobStatus", "jobDeploymentStatus", "reason", "message",
            "startTime", "endTime", "succeeded", "failed", "rayClusterStatus", "rayJobInfo",
            "jobStatusCheckFailureStartTime", "observedGeneration")


class RayJobController:
    """``ray.io/v1`` RayJob, as KubeRay's ``RayJobReconciler``."""

    resource: ClassVar[Resource] = Resource("ray.io/v1", "rayjobs")
    kind: ClassVar[str] = "RayJob"
    component: ClassVar[str] = "rayjob-controller"
    finalizer: ClassVar[str | None] = FINALIZER

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        s = ctx.settings.rayjob
        self.options = ctx.settings.raycluster.build_options(OPERATOR_VERSION)
        self.clusters = ctx.runtime.informers.get(RAYCLUSTERS.resource)
        self.pods = ctx.runtime.informers.get(PODS.resource, index_labels=PODS.index_labels)
        self.poller: Poller[JobInfo | None] = Poller(self._wake_polled, max_in_flight=s.max_polls_in_flight)
        self.poller.start()
        self.calls = OneShot(ctx.wake, max_in_flight=s.max_polls_in_flight, timeout=s.poll_timeout_seconds * 2)
        self._session: aiohttp.ClientSession | None = None
        self.timing = Timing(transition_grace_s=s.transition_grace_seconds,
                             status_check_timeout_s=s.status_check_timeout_seconds,
                             startup_deadline_s=s.startup_deadline_seconds)

    # -- the contract ---------------------------------------------------------------------------------------------
    def watches(self) -> Sequence[Watch]:
        return (RAYCLUSTERS, SUBMITTERS, Watch(PODS.resource, self._job_of_pod, index_labels=PODS.index_labels))

    def is_mine(self, obj: dict[str, Any]) -> bool:
        return managed_here(obj)

    def needs_pass(self, old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
        return needs_pass_on_change(old, new)

    def forget(self, key: Key, obj: dict[str, Any]) -> None:
        self.ctx.metrics.forget_job(key[1], key[0], obj.get("metadata", {}).get("uid", ""))
        job_id = (obj.get("status") or {}).get("jobId")
        self.poller.forget((key[0], key[1], job_id))
        self.calls.forget(key)

    async def close(self) -> None:
        await self.poller.close()
        await self.calls.close()
        if self._session is not None:
            await self._session.close()

    def _wake_polled(self, key: object) -> None:
        """Poll targets are keyed ``(namespace, name, job id)`` (see :meth:`_observe`); wake that RayJob."""
        assert isinstance(key, tuple)
        self.ctx.wake((str(key[0]), str(key[1])))

    def _job_of_pod(self, pod: dict[str, Any]) -> Key | None:
        meta = pod.get("metadata", {})
        cluster_name = (meta.get("labels") or {}).get(L.RAY_CLUSTER)
        cluster = self.clusters.get(meta.get("namespace", ""), cluster_name) if cluster_name else None
        return owner_by_reference("RayJob")(cluster) if cluster is not None else None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.ctx.settings.rayjob
                                                                                 .max_polls_in_flight))
        return self._session

    # -- passes ---------------------------------------------------------------------------------------------------
    async def reconcile(self, body: dict[str, Any]) -> Result:
        ctx = self.ctx
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        try:
            job = RayJob.parse(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            return await self._invalid(body, f"spec.{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}")
        problems = validate_rayjob(job)
        if problems:
            reason = "InvalidRayJobMetadata" if problems[0].path.startswith("metadata") else "InvalidRayJobSpec"
            return await self._invalid(body, str(problems[0]), reason)
        observed = await self._observe(job, body)
        now = dt.datetime.now(dt.UTC)
        out = step(job, observed, now, self._timing(job))
        status = {**out.status, "observedGeneration": job.generation}
        if out.write_first:
            await ctx.status.write(body, status)
            body = {**body, "status": status}
        results = [await actions.run(self, job, body, status, action, key) for action in out.actions]
        self._record_metrics(job, observed.status, status, now)
        if not out.write_first:
            await ctx.status.write_if_changed(body, status, COMPARED)
        result = Result.requeue(out.requeue_after) if out.requeue_after is not None else Result.done()
        for r in results:
            result = result.sooner(r)
        return result

    def _record_metrics(self, job: RayJob, before: dict[str, Any], after: dict[str, Any], now: dt.datetime) -> None:
        state = str(after.get("jobDeploymentStatus") or "")
        metrics = self.ctx.metrics
        metrics.observe_job(job.name, job.namespace, job.uid, state)
        ended = state in (D.COMPLETE, D.FAILED, D.RETRYING) and before.get("jobDeploymentStatus") != state
        started = after.get("startTime")
        if ended and started:
            seconds = (now - dt.datetime.fromisoformat(str(started).replace("Z", "+00:00"))).total_seconds()
            metrics.job_finished(job.name, job.namespace, job.uid, state, int(after.get("failed") or 0), seconds)

    async def finalize(self, body: dict[str, Any]) -> Result:
        """Stop the Ray job if it may still run (KubeRay: errors only logged; the finalizer goes regardless)."""
        status = body.get("status") or {}
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        job_id = status.get("jobId")
        if not job_id or status.get("jobStatus") in TERMINAL_JOB:
            return Result.done()
        cluster = self.clusters.get(key[0], status.get("rayClusterName") or "")
        target = dashboard_target(self.ctx, cluster, self.pods) if cluster is not None else None
        if target is None:
            return Result.done()
        outcome = self.calls.outcome(key, "stop")
        if outcome is None:
            api = HttpJobApi(target.url, session=self.session(), timeout=self.ctx.settings.rayjob.poll_timeout_seconds)
            self.calls.start(key, "stop", lambda: api.stop_job(job_id))
            return Result.requeue(5.0)
        self.ctx.events.normal(body, "StoppedRayJob" if outcome.ok else "FailedToStopRayJob",
                               f"Stopped Ray job {job_id}" if outcome.ok else f"Failed to stop Ray job {job_id}: "
                                                                             f"{outcome.error}")
        return Result.done()

    async def _invalid(self, body: dict[str, Any], message: str, reason: str = "InvalidRayJobSpec") -> Result:
        meta = body["metadata"]
        await self.ctx.status.report_invalid(body, reason, f"{meta['namespace']}/{meta['name']}: {message}", extra={
            "jobDeploymentStatus": D.VALIDATION_FAILED, "reason": "ValidationFailed", "message": message})
        return Result.invalid_spec(message)

    def _timing(self, job: RayJob) -> Timing:
        override = job.annotations.get(STARTUP_DEADLINE_ANNOTATION)
        try:
            deadline = float(override) if override else self.timing.startup_deadline_s
        except ValueError:
            deadline = self.timing.startup_deadline_s
        return Timing(self.timing.transition_grace_s, self.timing.status_check_timeout_s,
                      self.timing.submitter_finished_timeout_s, deadline)

    async def _observe(self, job: RayJob, body: dict[str, Any]) -> Observed:
        status = body.get("status") or {}
        ns = job.namespace
        name = status.get("rayClusterName")
        cluster = self.clusters.get(ns, name) if name else None
        pods = self.pods.by_index(ns, name, L.RAY_CLUSTER) if name else []
        submitters = await self.ctx.cache(SUBMITTERS)
        submitter = submitters.get(ns, job.name)
        if submitter is not None and (submitter.get("metadata", {}).get("ownerReferences") or [{}])[0].get(
                "uid") != job.uid:
            submitter = None  # another object of that name, not this job's
        target = dashboard_target(self.ctx, cluster, self.pods) if cluster is not None else None
        job_poll = None
        job_id = status.get("jobId")
        running = status.get("jobDeploymentStatus") == D.RUNNING
        if running and job_id and target is not None:
            settings = self.ctx.settings.rayjob
            api = HttpJobApi(target.url, session=self.session(), timeout=settings.poll_timeout_seconds)
            pkey = (ns, job.name, job_id)
            self.poller.ensure(pkey, lambda: api.get_job(job_id), interval=settings.poll_interval_seconds,
                               timeout=settings.poll_timeout_seconds)
            latest = self.poller.latest(pkey)
            if latest is not None:
                job_poll = JobPoll(ok=latest.ok, value=latest.value, error=latest.error)
        head_missing, sidecar_exit = False, None
        if job.spec.submission_mode == SubmissionMode.SIDECAR_MODE and cluster is not None:
            head_missing, sidecar_exit = actions.sidecar_state(cluster, pods)
        return Observed(status=status, cluster=cluster, pods=pods, submitter=submitter, head_missing=head_missing,
                        sidecar_exit=sidecar_exit, job_info=job_poll,
                        dashboard_url=actions.kuberay_dashboard_url(cluster, self.options.cluster_domain)
                        if cluster is not None else None)

