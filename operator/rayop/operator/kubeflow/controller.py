"""The four job controllers: read the caches, take one pure pass (:mod:`.plan`), act, admit the gang.

One class per kind (:func:`controller_for` binds a :class:`~.framework.Framework`); they share the pod and
Service informers (selector ``training.kubeflow.org/job-name``), the capacity cache of the gang check and the
metrics. Pods and Services are children by controlling ownerReference, so the garbage collector removes them with
their job; a job another controller manages (``spec.runPolicy.managedBy``) is never touched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import ValidationError

from rayop.api.kubeflow_common import API_VERSION, GROUP, JOB_NAME_LABEL, OPERATOR_NAME_LABEL, VERSION
from rayop.kube.client import ApiError, Conflict, NotFound
from rayop.kube.informers import Resource
from rayop.operator.runtime.children import controller_uid, owned
from rayop.operator.runtime.controller import Key, Result, Watch, needs_pass_on_change, owner_by_reference
from rayop.operator.runtime.runner import Context, Runtime

from . import capacity, gang, hpa, metrics
from .actions import Options, Plan
from .framework import Body, Framework
from .observe import GANG_GATE, REPLACEMENTS_ANNOTATION, deleting, gated, labels_of, slim_pod
from .plan import plan_job

logger = logging.getLogger("rayop.kubeflow")

POD_RESOURCE = Resource("v1", "pods", JOB_NAME_LABEL, transform=slim_pod)
SERVICE_RESOURCE = Resource("v1", "services", JOB_NAME_LABEL)
CONFIGMAP_RESOURCE = Resource("v1", "configmaps", JOB_NAME_LABEL)
SECRET_RESOURCE = Resource("v1", "secrets", JOB_NAME_LABEL)
#: The ``batch/v1`` Jobs of replica types run as Jobs (MPI's launcher); their pods carry the job's labels.
BATCH_JOB_RESOURCE = Resource("batch/v1", "jobs", JOB_NAME_LABEL)
#: rayop's own condition (kept first, so the last condition stays Kubeflow's state): can the gang be placed?
GANG_CONDITION = "GangScheduled"
#: Status fields that count as a change (lastReconcileTime alone does not cause a write).
COMPARED = ("replicaStatuses", "startTime", "completionTime")
#: How often a job whose pods do not fit looks again (capacity frees without an event on the job).
GANG_RETRY_SECONDS = 3.0


class JobController:
    """Base of the four ``kubeflow.org/v1`` controllers; :func:`controller_for` sets ``fw``."""

    fw: ClassVar[Framework]
    resource: ClassVar[Resource]
    kind: ClassVar[str]
    component: ClassVar[str]
    finalizer: ClassVar[str | None] = None

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        s = ctx.settings.kubeflow
        self.opts = Options(cluster_domain=s.cluster_domain, gang=s.gang_start, max_creates=s.max_pod_creates_per_pass)
        self.pods = ctx.runtime.informers.get(POD_RESOURCE, index_labels=(JOB_NAME_LABEL,))
        self.services = ctx.runtime.informers.get(SERVICE_RESOURCE, index_labels=(JOB_NAME_LABEL,))
        metrics.counters(ctx.metrics.registry)

    @classmethod
    async def available(cls, runtime: Runtime) -> bool:
        """Run this kind? ``kubeflow.enabled`` true/false, or (unset) whether the API server serves it: a
        cluster without the CRDs (the chart installs them only on request) must not wait for their informer."""
        enabled = runtime.settings.kubeflow.enabled
        if enabled is not None:
            return enabled
        try:
            found = await runtime.client.request("GET", f"/apis/{GROUP}/{VERSION}")
        except ApiError:
            return False
        return any(r.get("name") == cls.resource.plural for r in found.get("resources", []))

    # -- the contract ---------------------------------------------------------------------------------------------
    def watches(self) -> Sequence[Watch]:
        by_owner = owner_by_reference(self.kind)
        if not self.fw.job_roles:
            return (Watch(POD_RESOURCE, by_owner, index_labels=(JOB_NAME_LABEL,)),
                    Watch(SERVICE_RESOURCE, by_owner, index_labels=(JOB_NAME_LABEL,)))
        return (Watch(POD_RESOURCE, self._pod_owner, index_labels=(JOB_NAME_LABEL,)),
                Watch(SERVICE_RESOURCE, by_owner, index_labels=(JOB_NAME_LABEL,)),
                Watch(BATCH_JOB_RESOURCE, by_owner, index_labels=(JOB_NAME_LABEL,)))

    def _pod_owner(self, pod: Body) -> Key | None:
        """A pod's job: its controlling owner, or — for a pod of one of the job's ``batch/v1`` Jobs — its labels
        (so a launcher pod's phase wakes the MPIJob, not only the Job's status)."""
        owner = owner_by_reference(self.kind)(pod)
        if owner is not None:
            return owner
        meta = pod.get("metadata", {})
        labels = meta.get("labels") or {}
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("controller") and r.get("kind") == "Job"]
        if refs and labels.get(OPERATOR_NAME_LABEL) == self.fw.controller_name and labels.get(JOB_NAME_LABEL):
            return (meta.get("namespace", ""), labels[JOB_NAME_LABEL])
        return None

    def is_mine(self, obj: Body) -> bool:
        managed_by = ((obj.get("spec") or {}).get("runPolicy") or {}).get("managedBy") or ""
        return managed_by in self.ctx.settings.kubeflow.managed_by

    def needs_pass(self, old: Body | None, new: Body) -> bool:
        return needs_pass_on_change(old, new)

    async def finalize(self, obj: Body) -> Result:
        return Result.done()

    def forget(self, key: Key, obj: Body) -> None:
        self.ctx.expectations.forget(key)

    async def close(self) -> None:
        await capacity.release(self.ctx.client)

    # -- a pass ---------------------------------------------------------------------------------------------------
    async def reconcile(self, body: Body) -> Result:
        fw, ctx = self.fw, self.ctx
        meta = body["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        key = (ns, name)
        try:
            job = fw.model.parse(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            return await self._invalid(body, f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}")
        view = fw.view(job, body)
        problems = fw.validate(view)
        if problems:
            return await self._invalid(body, problems[0])
        jobs = await self._batch_jobs(ns, name, uid)
        owners = {uid, *(j["metadata"].get("uid") for j in jobs.values())}
        pods = [p for p in self.pods.by_index(ns, name, JOB_NAME_LABEL) if controller_uid(p) in owners]
        services = {s["metadata"]["name"]: s for s in self.services.by_index(ns, name, JOB_NAME_LABEL)
                    if controller_uid(s) == uid}
        pending = ctx.expectations.pending_groups(key, [(labels_of(p)["rtype"] or "", p["metadata"]["name"],
                                                         p["metadata"].get("uid", ""), deleting(p)) for p in pods])
        if pending:
            return Result.waiting()
        now = dt.datetime.now(dt.UTC)
        plan = plan_job(fw, view, pods, services, now, self.opts, jobs)
        result = await self._extras(body, view, pods) if plan.active else Result.done()
        if (plan.active and self.opts.gang and not pods
                and len(plan.create_pods) + len(plan.create_jobs) == view.total_replicas):
            await self._admit_at_creation(plan)
        result = result.sooner(await self._act(body, plan, key))
        if plan.active and plan.complete and self.opts.gang:
            result = result.sooner(await self._admit(body, plan, pods))
        for what in plan.metrics:
            metrics.inc(ctx.metrics.registry, what, ns, fw.framework_name)
        for etype, reason, message in plan.events:
            (ctx.events.warning if etype == "Warning" else ctx.events.normal)(body, reason, message)
        if plan.delete_job:
            try:
                await ctx.client.delete(API_VERSION, fw.plural, name, ns, precondition_uid=uid)
                ctx.events.normal(body, "SuccessfulDeleteJob", f"Deleted job: {name}")
            except NotFound:
                pass
            return Result.done()
        if fw.autoscales:
            result = result.sooner(await hpa.reconcile_hpa(self, body, view))
        await ctx.status.write_if_changed(body, plan.status, COMPARED)
        if plan.requeue_after is not None:
            result = result.sooner(Result.requeue(plan.requeue_after))
        return result

    async def _batch_jobs(self, ns: str, name: str, uid: str) -> dict[str, Body]:
        """The job's own ``batch/v1`` Jobs by name (none for frameworks without ``job_roles``)."""
        if not self.fw.job_roles:
            return {}
        cache = await self.ctx.cache(Watch(BATCH_JOB_RESOURCE, owner_by_reference(self.kind),
                                           index_labels=(JOB_NAME_LABEL,)))
        return {j["metadata"]["name"]: j for j in cache.by_index(ns, name, JOB_NAME_LABEL) if controller_uid(j) == uid}

    async def _act(self, body: Body, plan: Plan, key: Key) -> Result:
        ctx, ns = self.ctx, body["metadata"]["namespace"]
        failed: list[str] = []
        for job_name in plan.delete_jobs:  # background deletion: the Job's pods follow
            await self.delete_child(body, "batch/v1", "jobs", job_name, failed, event="SuccessfulDeleteJob")
        for job in plan.create_jobs:
            await self.create_child(body, {**job, "metadata": {**job["metadata"], "namespace": ns}}, failed)
        for svc_name, n in plan.count_replacements:
            try:
                await ctx.client.patch("v1", "services", svc_name,
                                       {"metadata": {"annotations": {REPLACEMENTS_ANNOTATION: str(n)}}}, ns)
            except ApiError as exc:
                failed.append(f"service {svc_name}: {exc.message}")
                return Result.failed("; ".join(failed))  # never delete a pod whose replacement is not counted
        for rtype, pod in plan.delete_pods:
            uid = pod["metadata"].get("uid")
            ctx.expectations.expect_delete(key, rtype.lower(), uid or "")
            await self.delete_child(body, "v1", "pods", pod["metadata"]["name"], failed, event="SuccessfulDeletePod",
                                     precondition_uid=uid)
        for svc_name in plan.delete_services:
            await self.delete_child(body, "v1", "services", svc_name, failed)
        # Creations of one pass run concurrently: a job's pods are independent, and a burst of jobs is bounded by
        # the API's latency, not by the operator.
        await asyncio.gather(*(self.create_child(body, svc, failed) for svc in plan.create_services),
                             *(self._create_pod(body, key, rtype, pod, failed) for rtype, pod in plan.create_pods))
        return Result.failed("; ".join(failed)) if failed else Result.done()

    async def create_child(self, body: Body, obj: Body, failed: list[str]) -> None:
        """Create one owned child (a Service, a batch Job) with the training-operator's events; an existing one is
        no error (a pass after a restart, or a stale cache)."""
        kind, name = obj["kind"], obj["metadata"]["name"]
        try:
            await self.ctx.client.create(owned(obj, body))
            self.ctx.events.normal(body, f"SuccessfulCreate{kind}", f"Created {kind.lower()}: {name}")
        except Conflict:
            pass
        except ApiError as exc:
            self.ctx.events.warning(body, f"FailedCreate{kind}", f"Error creating: {exc.message}")
            failed.append(f"{kind.lower()} {name}: {exc.message}")

    async def delete_child(self, body: Body, api_version: str, plural: str, name: str, failed: list[str],
                            event: str | None = None, **kw: Any) -> None:
        """Delete one child; one already gone is no error."""
        try:
            await self.ctx.client.delete(api_version, plural, name, body["metadata"]["namespace"], **kw)
            if event:
                self.ctx.events.normal(body, event, f"Deleted {plural[:-1]}: {name}")
        except NotFound:
            pass
        except ApiError as exc:
            failed.append(f"{plural[:-1]} {name}: {exc.message}")

    async def _create_pod(self, body: Body, key: Key, rtype: str, pod: Body, failed: list[str]) -> None:
        ctx, pname = self.ctx, pod["metadata"]["name"]
        ctx.expectations.expect_create(key, rtype.lower(), pname)
        try:
            await ctx.client.create(owned(pod, body))
            ctx.events.normal(body, "SuccessfulCreatePod", f"Created pod: {pname}")
        except Conflict:
            ctx.expectations.drop_create(key, rtype.lower(), pname)
        except ApiError as exc:
            ctx.expectations.drop_create(key, rtype.lower(), pname)
            ctx.events.warning(body, "FailedCreatePod", f"Error creating: {exc.message}")
            failed.append(f"pod {pname}: {exc.message}")

    async def _extras(self, body: Body, view: Any, pods: list[Body]) -> Result:
        """The framework's other children (MPI: job Service, hostfile ConfigMap, ssh Secret), kept current."""
        if self.fw.per_pod_services:
            return Result.done()
        ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
        by_owner = owner_by_reference(self.kind)
        caches = {"Service": self.services, "ConfigMap": await self.ctx.cache(Watch(CONFIGMAP_RESOURCE, by_owner)),
                  "Secret": await self.ctx.cache(Watch(SECRET_RESOURCE, by_owner))}
        have_secret = caches["Secret"].get(ns, f"{name}-ssh") is not None
        for obj in self.fw.extra_children(view, pods, have_secret):
            existing = caches[obj["kind"]].get(ns, obj["metadata"]["name"])
            try:
                if existing is None:
                    await self.ctx.client.create(owned(obj, body))
                    self.ctx.events.normal(body, f"SuccessfulCreate{obj['kind']}",
                                           f"Created {obj['kind'].lower()}: {obj['metadata']['name']}")
                elif obj["kind"] == "ConfigMap" and existing.get("data") != obj["data"]:
                    await self.ctx.client.patch("v1", "configmaps", obj["metadata"]["name"],
                                                {"data": obj["data"]}, ns)
            except Conflict:
                pass
            except ApiError as exc:
                self.ctx.events.warning(body, f"FailedCreate{obj['kind']}", f"Error creating: {exc.message}")
                return Result.failed(exc.message)
        return Result.done()

    async def _fit(self, pods: list[Body]) -> gang.Fit:
        """Check ``pods`` against the free capacity and reserve them when they fit (under the process's lock)."""
        cap = capacity.shared(self.ctx.client)
        await cap.ready()
        async with cap.lock:
            bound = {(str(p["metadata"].get("namespace")), str(p["metadata"]["name"])) for p in cap.pods.items()
                     if (p.get("spec") or {}).get("nodeName")}
            reserved = cap.reservations.pending(bound)
            fit = gang.place_with_reserved(pods, reserved, gang.nodes_free(cap.nodes.items(), cap.pods.items()))
            if fit.ok:
                cap.reservations.add(pods)
        return fit

    async def _admit_at_creation(self, plan: Plan) -> None:
        """A job whose every pod this pass creates and that fits now gets its pods without the gate: no second
        pass and no patch per pod (a job that does not fit is created gated and admitted by :meth:`_admit`).
        A replica type run as a Job counts by its pod template (reserved under the Job's name until the
        reservation's TTL: its pod's name is the Job controller's)."""
        specs = [pod for _, pod in plan.create_pods] + [job["spec"]["template"] for job in plan.create_jobs]
        names = [pod["metadata"]["name"] for _, pod in plan.create_pods] + [
            job["metadata"]["name"] for job in plan.create_jobs]
        pods = [{**pod, "metadata": {**(pod.get("metadata") or {}), "name": n, "namespace": plan.namespace}}
                for pod, n in zip(specs, names, strict=True)]
        if not (await self._fit(pods)).ok:
            return
        for pod in specs:
            gates = [g for g in pod["spec"].get("schedulingGates") or [] if g.get("name") != GANG_GATE]
            if gates:
                pod["spec"]["schedulingGates"] = gates
            else:
                pod["spec"].pop("schedulingGates", None)
        self._gang_condition(plan, True, "Admitted", f"all {len(pods)} pods fit; created without scheduling gates")

    async def _admit(self, body: Body, plan: Plan, pods: list[Body]) -> Result:
        """Lift the gang gate of every gated pod together, or none, and say why not in ``GangScheduled``."""
        waiting = [p for p in pods if gated(p) and not deleting(p)]
        if not waiting:
            return Result.done()
        fit = await self._fit(waiting)
        ns = body["metadata"]["namespace"]
        if not fit.ok:
            self._gang_condition(plan, False, "InsufficientCapacity", fit.message)
            if not self._was_waiting(body, fit):
                self.ctx.events.warning(body, "GangWaiting", fit.message)
            return Result.requeue(GANG_RETRY_SECONDS)
        failed: list[str] = []
        await asyncio.gather(*(self._ungate(pod, ns, failed) for pod in waiting))
        self._gang_condition(plan, True, "Admitted", f"all {len(waiting)} pods fit; scheduling gates removed")
        return Result.failed("; ".join(failed)) if failed else Result.done()

    async def _ungate(self, pod: Body, ns: str, failed: list[str]) -> None:
        gates = [g for g in (pod.get("spec") or {}).get("schedulingGates") or [] if g.get("name") != GANG_GATE]
        try:
            await self.ctx.client.patch("v1", "pods", pod["metadata"]["name"],
                                        {"spec": {"schedulingGates": gates or None}}, ns)
        except NotFound:
            pass
        except ApiError as exc:
            failed.append(f"pod {pod['metadata']['name']}: {exc.message}")

    def _was_waiting(self, body: Body, fit: gang.Fit) -> bool:
        old = next((c for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") == GANG_CONDITION),
                   None)
        return old is not None and old.get("status") == "False" and old.get("message") == fit.message

    @staticmethod
    def _gang_condition(plan: Plan, ok: bool, reason: str, message: str) -> None:
        conds = [c for c in plan.status.get("conditions") or [] if c.get("type") != GANG_CONDITION]
        old = next((c for c in plan.status.get("conditions") or [] if c.get("type") == GANG_CONDITION), None)
        stamp = plan.status.get("lastReconcileTime") or ""
        value = "True" if ok else "False"
        transition = old.get("lastTransitionTime", stamp) if old is not None and old.get("status") == value else stamp
        plan.status["conditions"] = [{"type": GANG_CONDITION, "status": value, "reason": reason, "message": message,
                                      "lastUpdateTime": stamp, "lastTransitionTime": transition}, *conds]

    async def _invalid(self, body: Body, message: str) -> Result:
        meta = body["metadata"]
        await self.ctx.status.report_invalid(body, f"{self.kind}FailedValidation",
                                             f"{meta['namespace']}/{meta['name']}: {message}")
        return Result.invalid_spec(message)


def controller_for(framework: Framework) -> type[JobController]:
    """The controller class of one framework (a class: the runner reads its ClassVars before constructing it)."""
    attrs: dict[str, Any] = {
        "fw": framework, "resource": Resource(API_VERSION, framework.plural), "kind": framework.kind,
        "component": framework.controller_name,
        "__doc__": f"``{API_VERSION}`` {framework.kind}, as the training-operator's {framework.controller_name}.",
    }
    return type(f"{framework.kind}Controller", (JobController,), attrs)


def _frameworks() -> tuple[Framework, ...]:
    from .mpi import MPI
    from .pytorch import PyTorch
    from .tf import TensorFlow
    from .xgboost import XGBoost

    return (TensorFlow(), PyTorch(), XGBoost(), MPI())


#: The controllers :data:`rayop.operator.main.CONTROLLERS` runs (each only when its CRD is served, see
#: :meth:`JobController.available`).
KUBEFLOW_CONTROLLERS: tuple[type[JobController], ...] = tuple(controller_for(f) for f in _frameworks())
