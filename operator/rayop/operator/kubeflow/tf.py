"""TFJob: ``TF_CONFIG`` on the ``tensorflow`` container, chief/worker-0 success (training-operator
``pkg/controller.v1/tensorflow``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rayop.api.kubeflow import TFJob
from rayop.api.kubeflow_common import RestartPolicy

from .framework import Body, Counts, Framework, JobView, Verdict, env_var, exit_code, port_of

CHIEF, MASTER, PS, WORKER, EVALUATOR = "Chief", "Master", "PS", "Worker", "Evaluator"


def address(job: JobView, rtype: str, index: int, port: int, cluster_domain: str) -> str:
    host = f"{job.name}-{rtype.lower()}-{index}.{job.namespace}.svc"
    return f"{host}.{cluster_domain}:{port}" if cluster_domain else f"{host}:{port}"


class TensorFlow(Framework):
    kind = "TFJob"
    plural = "tfjobs"
    model = TFJob
    replica_field = "tfReplicaSpecs"
    replica_attr = "tf_replica_specs"
    controller_name = "tfjob-controller"
    framework_name = "tensorflow"
    default_container = "tensorflow"
    port_name = "tfjob-port"
    default_port = 2222
    default_restart = RestartPolicy.NEVER
    roles = (CHIEF, EVALUATOR, MASTER, PS, WORKER)

    def validate(self, job: JobView) -> list[str]:
        problems = super().validate(job)
        if CHIEF in job.replicas and MASTER in job.replicas:
            problems.append(f"spec.{self.replica_field}: only one of Chief or Master may be set")
        return problems

    def env_containers(self, rtype: str) -> tuple[str, ...]:
        return (self.default_container,)

    def is_master_role(self, job: JobView, rtype: str, index: int) -> bool:
        if CHIEF in job.replicas or MASTER in job.replicas:
            return rtype in (CHIEF, MASTER)
        return rtype == WORKER and index == 0

    def env(self, job: JobView, rtype: str, index: int, cluster_domain: str) -> list[Body]:
        if job.total_replicas == 1:  # isDistributed: no TF_CONFIG for local training
            return []
        return [env_var("TF_CONFIG", tf_config(job, rtype, index, cluster_domain,
                                               bool(job.spec.enable_dynamic_worker)))]

    def verdict(self, job: JobView, counts: Mapping[str, Counts], pods: list[Body], conds: list[Body]) -> Verdict:
        v = Verdict()
        chief = CHIEF in job.replicas or MASTER in job.replicas
        all_workers = job.spec.success_policy == "AllWorkers"
        for rtype in self.roles:
            r = job.replicas.get(rtype)
            if r is None:
                continue
            c = counts.get(rtype, Counts())
            expected = r.replicas - c.succeeded
            if chief and rtype in (CHIEF, MASTER):
                v.running = v.running or c.active > 0
                v.succeeded = v.succeeded or expected == 0
            elif not chief and rtype == WORKER:
                if expected == 0 or (worker0_completed(job, pods) and not all_workers):
                    v.succeeded = True
                elif c.active > 0:
                    v.running = True
            if c.failed > 0 and v.failed is None and v.restarting is None:
                if any(x.get("type") == "Restarting" for x in conds):
                    v.restarting = (rtype, c.failed)  # the pod was just recreated: not a failure of the job
                elif not (job.spec.enable_dynamic_worker and rtype == WORKER):
                    v.failed = (rtype, c.failed)
        return v


def worker0_completed(job: JobView, pods: list[Body]) -> bool:
    """``IsWorker0Completed``: worker 0 exited 0 and its pod Succeeded."""
    from .observe import labels_of

    for pod in pods:
        lb = labels_of(pod)
        if lb.get("rtype") == "worker" and lb.get("index") == "0":
            return (pod.get("status") or {}).get("phase") == "Succeeded" and exit_code(pod, "tensorflow") == 0
    return False


def tf_config(job: JobView, rtype: str, index: int, cluster_domain: str = "", sparse: bool = False) -> str:
    """The ``TF_CONFIG`` JSON exactly as Go's encoding/json writes it: cluster keys sorted, no spaces."""
    cluster: dict[str, list[str]] = {}
    for rt in sorted(job.replicas, key=str.lower):
        r = job.replicas[rt]
        port = port_of(job, rt, "tensorflow", "tfjob-port", 2222) or 2222
        cluster[rt.lower()] = [address(job, rt, i, port, cluster_domain) for i in range(r.replicas)]
    task = {"type": rtype.lower(), "index": index}
    doc: dict[str, Any]
    if sparse:
        workers = cluster.get("worker", [])
        sparse_cluster: dict[str, Any] = {"worker": {str(index): workers[index]} if rtype == WORKER else {},
                                          "ps": cluster.get("ps", [])}
        if rtype == PS:
            sparse_cluster["ps"] = [cluster["ps"][index]]
        doc = {"cluster": sparse_cluster, "task": task}
    else:
        doc = {"cluster": dict(sorted(cluster.items())), "task": task, "environment": "cloud"}
    return json.dumps(doc, separators=(",", ":"))
