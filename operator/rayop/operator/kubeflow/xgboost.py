"""XGBoostJob: Rabit's ``MASTER_*``/``WORLD_SIZE``/``RANK`` (and LightGBM's ``WORKER_*``) on every container, Master
success (training-operator ``pkg/controller.v1/xgboost``)."""

from __future__ import annotations

from collections.abc import Mapping

from rayop.api.kubeflow import XGBoostJob
from rayop.api.kubeflow_common import RestartPolicy

from .framework import Body, Counts, Framework, JobView, Verdict, env_var, port_of

MASTER, WORKER = "Master", "Worker"


class XGBoost(Framework):
    kind = "XGBoostJob"
    plural = "xgboostjobs"
    model = XGBoostJob
    replica_field = "xgbReplicaSpecs"
    replica_attr = "xgb_replica_specs"
    controller_name = "xgboostjob-controller"
    framework_name = "xgboost"
    default_container = "xgboost"
    port_name = "xgboostjob-port"
    default_port = 9999
    default_restart = RestartPolicy.NEVER
    roles = (MASTER, WORKER)

    def validate(self, job: JobView) -> list[str]:
        problems = super().validate(job)
        master = job.replicas.get(MASTER)
        if master is None:
            problems.append(f"spec.{self.replica_field}: Master ReplicaSpec must be present")
        elif master.replicas != 1:
            problems.append(f"spec.{self.replica_field}[Master].replicas: must be 1")
        return problems

    def is_master_role(self, job: JobView, rtype: str, index: int) -> bool:
        return rtype == MASTER

    def env(self, job: JobView, rtype: str, index: int, cluster_domain: str) -> list[Body]:
        total = job.total_replicas
        masters = job.replicas[MASTER].replicas if MASTER in job.replicas else 0
        rank = index + masters if rtype == WORKER else index
        port = port_of(job, MASTER, self.default_container, self.port_name, self.default_port)
        out = [env_var("MASTER_PORT", str(port)), env_var("MASTER_ADDR", f"{job.name}-master-0"),
               env_var("WORLD_SIZE", str(total)), env_var("RANK", str(rank)), env_var("PYTHONUNBUFFERED", "0")]
        if total > 1:
            worker_port = port_of(job, WORKER, self.default_container, self.port_name, self.default_port)
            out += [env_var("WORKER_PORT", str(worker_port)),
                    env_var("WORKER_ADDRS", ",".join(f"{job.name}-worker-{i}" for i in range(total - 1)))]
        return out

    def verdict(self, job: JobView, counts: Mapping[str, Counts], pods: list[Body], conds: list[Body]) -> Verdict:
        v = Verdict()
        for rtype in self.roles:
            r = job.replicas.get(rtype)
            if r is None:
                continue
            c = counts.get(rtype, Counts())
            if rtype == MASTER:
                v.running = v.running or c.active > 0
                v.succeeded = v.succeeded or r.replicas - c.succeeded == 0
            if c.failed > 0:
                if r.restart_policy == RestartPolicy.EXIT_CODE:
                    v.restarting = v.restarting or (rtype, c.failed)
                elif v.failed is None:
                    v.failed = (rtype, c.failed)
        return v
