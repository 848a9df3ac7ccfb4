"""The pods and headless Services of a job, as the training-operator creates them (``createNewPod``,
``CreateNewService``), pure."""

from __future__ import annotations

import copy

from rayop.api.kubeflow_common import (
    JOB_NAME_LABEL,
    JOB_ROLE_LABEL,
    JOB_ROLE_MASTER,
    OPERATOR_NAME_LABEL,
    REPLICA_INDEX_LABEL,
    REPLICA_TYPE_LABEL,
    RestartPolicy,
)

from .framework import Body, Framework, JobView
from .observe import GANG_GATE, REPLACEMENTS_ANNOTATION


def pod_name(job: str, rtype: str, index: int) -> str:
    """``GenGeneralName``: ``{job}-{rtype}-{index}``, lower-case type, ``/`` as ``-``."""
    return f"{job}-{rtype.lower()}-{index}".replace("/", "-")


def job_labels(fw: Framework, job: JobView) -> dict[str, str]:
    """``GenLabels``: what every child of the job carries."""
    return {OPERATOR_NAME_LABEL: fw.controller_name, JOB_NAME_LABEL: job.name.replace("/", "-")}


def replica_labels(fw: Framework, job: JobView, rtype: str, index: int) -> dict[str, str]:
    return {**job_labels(fw, job), REPLICA_TYPE_LABEL: rtype.lower(), REPLICA_INDEX_LABEL: str(index)}


def build_pod(fw: Framework, job: JobView, rtype: str, index: int, *, cluster_domain: str = "",
              gang: bool = False, replaced: int = 0) -> Body:
    """Pod ``index`` of ``rtype``: the template with Kubeflow's labels, the framework's env, the restart policy
    (ExitCode runs as Never: the operator decides), and rayop's gang gate."""
    r = job.replicas[rtype]
    template = copy.deepcopy(r.template)
    meta = template.get("metadata") or {}
    labels = {**(meta.get("labels") or {}), **replica_labels(fw, job, rtype, index)}
    if fw.is_master_role(job, rtype, index):
        labels[JOB_ROLE_LABEL] = JOB_ROLE_MASTER
    annotations = dict(meta.get("annotations") or {})
    if replaced:
        annotations[REPLACEMENTS_ANNOTATION] = str(replaced)
    spec = template.get("spec") or {}
    spec["restartPolicy"] = "Never" if r.restart_policy == RestartPolicy.EXIT_CODE else r.restart_policy.value
    env = fw.env(job, rtype, index, cluster_domain)
    targets = fw.env_containers(rtype)
    if env:
        for c in spec.get("containers") or []:
            if targets is None or c.get("name") in targets:
                own = {e.get("name") for e in c.get("env") or []} if fw.keep_user_env else set()
                c["env"] = [*(c.get("env") or []), *(copy.deepcopy(e) for e in env if e["name"] not in own)]
                if targets is not None:
                    break  # TF: the first container named tensorflow only
    if gang:
        spec["schedulingGates"] = [*(spec.get("schedulingGates") or []), {"name": GANG_GATE}]
    pod: Body = {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": pod_name(job.name, rtype, index), "labels": labels,
                              **({"annotations": annotations} if annotations else {})},
                 "spec": spec}
    fw.pod_extras(job, rtype, index, pod)
    return pod


def build_service(fw: Framework, job: JobView, rtype: str, index: int) -> Body:
    """The headless Service named like the pod, selecting it, with the default container's default-named ports."""
    r = job.replicas[rtype]
    ports = []
    for c in (r.template.get("spec") or {}).get("containers") or []:
        if c.get("name") == fw.default_container:
            ports = [{"name": p["name"], "port": int(p["containerPort"])} for p in c.get("ports") or []
                     if p.get("name") == fw.port_name]
    labels = replica_labels(fw, job, rtype, index)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": pod_name(job.name, rtype, index), "labels": labels},
            "spec": {"clusterIP": "None", "selector": dict(labels), "ports": ports}}
