"""Carries out one step's actions for the RayJob controller, with KubeRay's event reasons (no decisions here:
:mod:`.plan` made them). Creates are checked against the caches and tolerate "already exists", so a step repeated
after a restart changes nothing."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.api.raycluster import RayCluster
from rayop.api.rayjob import RayJob
from rayop.kube.client import ApiError, Conflict, NotFound
from rayop.kube.informers import Resource
from rayop.operator.builders import BuildError
from rayop.operator.builders.rayjob import (
    build_cluster_for_job,
    build_job_head_service,
    build_submitter_job,
    job_submit_request,
)
from rayop.operator.runtime.children import Child, ChildError, ensure, owned
from rayop.operator.runtime.controller import Result, Watch, owner_by_reference

from . import plan as P
from .dashboard import HttpJobApi
from .deletion import DeleteCluster, DeleteSelf, SuspendWorkers
from .reach import dashboard_target

if TYPE_CHECKING:
    from .controller import RayJobController

Key = tuple[str, str]
JOB_SERVICES = Watch(Resource("v1", "services", f"{L.RAY_ORIGINATED_FROM_CRD}=RayJob"), owner_by_reference("RayJob"))


def kuberay_dashboard_url(cluster: dict[str, Any], cluster_domain: str) -> str | None:
    """KubeRay's ``status.dashboardURL``: ``<head-svc>.<ns>.svc.<domain>:<dashboard port>`` (no scheme)."""
    status = cluster.get("status") or {}
    service = (status.get("head") or {}).get("serviceName")
    port = (status.get("endpoints") or {}).get("dashboard", "8265")
    if not service:
        return None
    return f"{service}.{cluster['metadata']['namespace']}.svc.{cluster_domain}:{port}"


def sidecar_state(cluster: dict[str, Any], pods: list[dict[str, Any]]) -> tuple[bool, tuple[int, str, Any] | None]:
    """SidecarMode: (head gone after provisioning, exit of the terminated submitter container or None)."""
    import datetime as dt

    heads = [p for p in pods if (p.get("metadata", {}).get("labels") or {}).get(L.RAY_NODE_TYPE) == L.NODE_TYPE_HEAD
             and not p.get("metadata", {}).get("deletionTimestamp")]
    provisioned = any(c.get("type") == "RayClusterProvisioned" and c.get("status") == "True"
                      for c in (cluster.get("status") or {}).get("conditions") or [])
    if not heads:
        return provisioned, None
    for cs in (heads[0].get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if cs.get("name") == "ray-job-submitter" and term:
            finished = term.get("finishedAt")
            when = dt.datetime.fromisoformat(finished.replace("Z", "+00:00")) if finished else None
            return False, (int(term.get("exitCode", 1)), str(term.get("reason", "")), when)
    return False, None


async def _create(ctl: RayJobController, body: dict[str, Any], obj: dict[str, Any], what: str) -> Result:
    ns = body["metadata"]["namespace"]
    try:
        await ctl.ctx.client.create(owned(obj, body))
    except Conflict:
        return Result.done()
    except ApiError as exc:
        ctl.ctx.events.warning(body, f"FailedToCreate{what}", f"Failed to create {what} {ns}/"
                                                              f"{obj['metadata']['name']}: {exc.message}")
        return Result.failed(exc.message)
    ctl.ctx.events.normal(body, f"Created{what}", f"Created {what} {ns}/{obj['metadata']['name']}")
    return Result.done()


async def _delete(ctl: RayJobController, body: dict[str, Any], api_version: str, plural: str, name: str,
                  what: str) -> Result:
    ns = body["metadata"]["namespace"]
    try:
        await ctl.ctx.client.delete(api_version, plural, name, ns, propagation="Background")
    except NotFound:
        return Result.done()
    except ApiError as exc:
        ctl.ctx.events.warning(body, f"FailedToDelete{what}", f"Failed to delete {what} {ns}/{name}: {exc.message}")
        return Result.failed(exc.message)
    ctl.ctx.events.normal(body, f"Deleted{what}", f"Deleted {what} {ns}/{name}")
    return Result.done()


async def run(ctl: RayJobController, job: RayJob, body: dict[str, Any], status: dict[str, Any], action: P.Action,
              key: Key) -> Result:
    ctx = ctl.ctx
    ns = job.namespace
    cluster_name = status.get("rayClusterName") or ""
    cluster = ctl.clusters.get(ns, cluster_name) if cluster_name else None
    try:
        if isinstance(action, P.Event):
            ctx.events.record(body, action.type, action.reason, action.message)
        elif isinstance(action, P.CreateCluster):
            # The builder reads the submission id from the status (SidecarMode passes it to the head's submitter),
            # so it gets the status as this step leaves it: the id fixed, no dashboard URL yet, as in KubeRay.
            job_now = RayJob.parse({**body, "status": status})
            return await _create(ctl, body, build_cluster_for_job(job_now, cluster_name=action.name,
                                                                  options=ctl.options), "RayCluster")
        elif isinstance(action, P.CreateSubmitter) and cluster is not None:
            submitter = build_submitter_job(job, cluster=RayCluster.parse(cluster),
                                            dashboard_address=status.get("dashboardURL") or "",
                                            submission_id=status.get("jobId") or "", options=ctl.options)
            return await _create(ctl, body, submitter, "RayJobSubmitter")
        elif isinstance(action, P.SubmitJob):
            return _submit(ctl, job, status, cluster, key)
        elif isinstance(action, P.StopJob) and cluster is not None and status.get("jobId"):
            target = dashboard_target(ctx, cluster, ctl.pods)
            if target is not None:
                api = HttpJobApi(target.url, session=ctl.session(), timeout=ctx.settings.rayjob.poll_timeout_seconds)
                job_id = str(status["jobId"])
                ctl.calls.start(key, "stop", lambda: api.stop_job(job_id))
        elif isinstance(action, P.EnsureJobHeadService) and cluster is not None:
            service = build_job_head_service(job, RayCluster.parse(cluster), ctl.options)
            child = Child(service, "CreatedService", "FailedToCreateService")
            await ensure(ctx.client, ctx.events, body, child, await ctx.cache(JOB_SERVICES))
        elif isinstance(action, P.DeleteChildren):
            result = Result.done()
            if action.cluster and cluster is not None:
                result = await _delete(ctl, body, "ray.io/v1", "rayclusters", cluster_name, "RayCluster")
            if action.submitter:
                result = result.sooner(await _delete(ctl, body, "batch/v1", "jobs", job.name, "RayJobSubmitter"))
            return result
        elif isinstance(action, DeleteCluster):
            return await _delete(ctl, body, "ray.io/v1", "rayclusters", action.name, "RayCluster")
        elif isinstance(action, SuspendWorkers) and cluster is not None:
            return await _suspend_workers(ctl, body, cluster)
        elif isinstance(action, DeleteSelf):
            with contextlib.suppress(NotFound):
                await ctx.client.delete("ray.io/v1", "rayjobs", job.name, ns)
    except (BuildError, ChildError) as exc:
        return Result.failed(str(exc))
    return Result.done()


def _submit(ctl: RayJobController, job: RayJob, status: dict[str, Any], cluster: dict[str, Any] | None,
            key: Key) -> Result:
    """HTTPMode: POST the job in the background; an outcome is read (and cleared) by the next pass."""
    outcome = ctl.calls.outcome(key, "submit")
    if outcome is not None:
        ctl.calls.clear(key, "submit")
        if not outcome.ok:
            ctl.ctx.events.warning({"apiVersion": job.api_version, "kind": "RayJob", "metadata": job.metadata},
                                   "FailedToSubmitRayJob", f"Failed to submit Ray job {status.get('jobId')}: "
                                                           f"{outcome.error}")
            return Result.requeue(3.0)
        return Result.requeue(1.0)
    target = dashboard_target(ctl.ctx, cluster, ctl.pods) if cluster is not None else None
    if target is None:
        return Result.requeue(2.0)
    api = HttpJobApi(target.url, session=ctl.session(), timeout=ctl.ctx.settings.rayjob.poll_timeout_seconds)
    request = job_submit_request(job, status.get("jobId") or "")
    ctl.calls.start(key, "submit", lambda: api.submit_job(request))
    return Result.requeue(2.0)


async def _suspend_workers(ctl: RayJobController, body: dict[str, Any], cluster: dict[str, Any]) -> Result:
    groups = [{**g, "suspend": True} for g in (cluster.get("spec") or {}).get("workerGroupSpecs") or []]
    meta = cluster["metadata"]
    try:
        await ctl.ctx.client.patch("ray.io/v1", "rayclusters", meta["name"], {
            "metadata": {"resourceVersion": meta.get("resourceVersion")}, "spec": {"workerGroupSpecs": groups}},
            meta["namespace"])
    except Conflict:
        return Result.requeue(0.5)
    except ApiError as exc:
        ctl.ctx.events.warning(body, "FailedToUpdateRayCluster", f"Failed to suspend the workers of RayCluster "
                                                                 f"{meta['namespace']}/{meta['name']}: {exc.message}")
        return Result.failed(exc.message)
    ctl.ctx.events.normal(body, "UpdatedRayCluster", f"Suspended every worker group of RayCluster "
                                                     f"{meta['namespace']}/{meta['name']}")
    return Result.done()


