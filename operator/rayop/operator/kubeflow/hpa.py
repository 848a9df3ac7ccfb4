"""Elastic PyTorchJobs' HorizontalPodAutoscalers (training-operator ``pkg/controller.v1/pytorch/hpa.go``): the HPA a
framework builds (:meth:`.framework.Framework.autoscaler`) kept in step with its job, through the job's controller."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from rayop.api.kubeflow_common import JOB_NAME_LABEL
from rayop.kube.client import ApiError, Conflict
from rayop.kube.informers import Resource
from rayop.operator.runtime.children import controller_uid
from rayop.operator.runtime.controller import Result, Watch, owner_by_reference

from .framework import Body, JobView

if TYPE_CHECKING:
    from .controller import JobController

#: The HPAs (labelled with their job's name by :func:`.pytorch.build_hpa`).
HPA_RESOURCE = Resource("autoscaling/v2", "horizontalpodautoscalers", JOB_NAME_LABEL)
#: On a job's HPA: the hash of the spec rayop wrote (what "changed" means, see :func:`reconcile_hpa`).
SPEC_HASH_ANNOTATION = "rayop.io/spec-hash"


def spec_hash(spec: Body) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


async def reconcile_hpa(ctl: JobController, body: Body, view: JobView) -> Result:
    """``ReconcileHPA``: the job's HPA exists, with the spec its elastic policy gives, while it has metrics and is
    not suspended (upstream deletes it on suspension); otherwise an HPA the job owns is deleted. The HPA records
    the hash of the spec it was written with: the API server normalizes quantities and fills defaults, so a
    comparison with the stored spec could differ forever and rewrite it on every pass."""
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    cache = await ctl.ctx.cache(Watch(HPA_RESOURCE, owner_by_reference(ctl.kind)))
    existing = cache.get(ns, name)
    mine = existing is not None and controller_uid(existing) == body["metadata"]["uid"]
    wanted = None if view.run_policy.suspend else ctl.fw.autoscaler(view)
    if wanted is not None:
        wanted["metadata"]["annotations"] = {SPEC_HASH_ANNOTATION: spec_hash(wanted["spec"])}
    failed: list[str] = []
    if wanted is None:
        if mine:
            await ctl.delete_child(body, "autoscaling/v2", "horizontalpodautoscalers", name, failed)
    elif existing is None:
        await ctl.create_child(body, wanted, failed)
    elif mine and (existing["metadata"].get("annotations") or {}).get(SPEC_HASH_ANNOTATION) != \
            wanted["metadata"]["annotations"][SPEC_HASH_ANNOTATION]:
        try:
            await ctl.ctx.client.replace({**wanted, "metadata": {
                **existing["metadata"], "labels": wanted["metadata"]["labels"],
                "annotations": {**(existing["metadata"].get("annotations") or {}),
                                **wanted["metadata"]["annotations"]}}})
        except Conflict:
            return Result.requeue(0.5)
        except ApiError as exc:
            failed.append(f"horizontalpodautoscaler {name}: {exc.message}")
    return Result.failed("; ".join(failed)) if failed else Result.done()

