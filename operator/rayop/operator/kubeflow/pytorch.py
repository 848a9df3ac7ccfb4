"""PyTorchJob: ``MASTER_ADDR``/``MASTER_PORT``/``WORLD_SIZE``/``RANK`` and torchrun's ``PET_*`` on every container,
Master success (training-operator ``pkg/controller.v1/pytorch``)."""

from __future__ import annotations

from collections.abc import Mapping

from rayop.api.kubeflow import PyTorchJob
from rayop.api.kubeflow_common import API_VERSION, JOB_NAME_LABEL, RestartPolicy

from .framework import Body, Counts, Framework, JobView, Verdict, env_var, port_of

MASTER, WORKER = "Master", "Worker"


def nproc_per_node(job: JobView) -> str | None:
    """``spec.nprocPerNode``, defaulted to ``auto`` unless the deprecated elastic field is set."""
    if job.spec.nproc_per_node is not None:
        return str(job.spec.nproc_per_node)
    elastic = job.spec.elastic_policy
    return None if elastic is not None and elastic.n_proc_per_node is not None else "auto"


def nproc_int(job: JobView) -> int:
    value = nproc_per_node(job)
    return int(value) if value is not None and value.isdigit() else 1


class PyTorch(Framework):
    kind = "PyTorchJob"
    plural = "pytorchjobs"
    model = PyTorchJob
    replica_field = "pytorchReplicaSpecs"
    replica_attr = "pytorch_replica_specs"
    controller_name = "pytorchjob-controller"
    framework_name = "pytorch"
    default_container = "pytorch"
    port_name = "pytorchjob-port"
    default_port = 23456
    default_restart = RestartPolicy.ON_FAILURE
    roles = (MASTER, WORKER)
    autoscales = True

    def validate(self, job: JobView) -> list[str]:
        problems = super().validate(job)
        master = job.replicas.get(MASTER)
        if master is not None and master.replicas != 1:
            problems.append(f"spec.{self.replica_field}[Master].replicas: must be 1")
        for rtype, r in job.replicas.items():
            if rtype != MASTER and r.replicas < 1:
                problems.append(f"spec.{self.replica_field}[{rtype}].replicas: must be at least 1")
        elastic = job.spec.elastic_policy
        if elastic is not None and WORKER not in job.replicas:
            problems.append(f"spec.{self.replica_field}: a Worker is required with elasticPolicy")
        if elastic is not None and elastic.n_proc_per_node is not None and job.spec.nproc_per_node is not None:
            problems.append("spec.elasticPolicy.nProcPerNode: must not be set together with spec.nprocPerNode")
        if elastic is not None and WORKER in job.replicas:
            lo, hi = elastic_bounds(job)
            if lo < 1 or hi < lo:  # rayop's own check: the HPA (and torchrun's --nnodes=min:max) would refuse it
                problems.append(f"spec.elasticPolicy: minReplicas ({lo}) must be at least 1 and at most "
                                f"maxReplicas ({hi})")
        return problems

    def autoscaler(self, job: JobView) -> Body | None:
        return build_hpa(job)

    def is_master_role(self, job: JobView, rtype: str, index: int) -> bool:
        if MASTER in job.replicas:
            return rtype == MASTER
        return rtype == WORKER and index == 0

    def env(self, job: JobView, rtype: str, index: int, cluster_domain: str) -> list[Body]:
        out = [env_var("PYTHONUNBUFFERED", "1")]
        total = job.total_replicas
        if MASTER in job.replicas:
            port = str(port_of(job, MASTER, self.default_container, self.port_name, self.default_port))
            addr = f"{job.name}-master-0"
            out += [env_var("MASTER_PORT", port), env_var("PET_MASTER_PORT", port),
                    env_var("MASTER_ADDR", addr), env_var("PET_MASTER_ADDR", addr)]
            rank = index + 1 if rtype == WORKER else index
            out += [env_var("WORLD_SIZE", str(total * nproc_int(job))), env_var("RANK", str(rank)),
                    env_var("PET_NODE_RANK", str(rank))]
        elastic = job.spec.elastic_policy
        if elastic is not None:
            out += elastic_env(job)
        else:
            out.append(env_var("PET_NNODES", str(total)))
        nproc = nproc_per_node(job)
        if nproc is not None:
            out.append(env_var("PET_NPROC_PER_NODE", nproc))
        return out

    def verdict(self, job: JobView, counts: Mapping[str, Counts], pods: list[Body], conds: list[Body]) -> Verdict:
        v = Verdict()
        has_master = MASTER in job.replicas
        elastic = job.spec.elastic_policy is not None
        for rtype in self.roles:
            r = job.replicas.get(rtype)
            if r is None:
                continue
            c = counts.get(rtype, Counts())
            expected = r.replicas - c.succeeded
            if has_master and rtype == MASTER:
                v.running = v.running or c.active > 0
                v.succeeded = v.succeeded or expected == 0
            elif not has_master and rtype == WORKER:
                if expected == 0 or (elastic and c.succeeded > 0):
                    v.succeeded = True
                elif c.active > 0:
                    v.running = True
            if c.failed > 0 and r.replicas > c.succeeded + c.active:
                if r.restart_policy != RestartPolicy.NEVER:
                    v.restarting = v.restarting or (rtype, c.failed)
                elif v.failed is None:
                    v.failed = (rtype, c.failed)
        return v


def elastic_bounds(job: JobView) -> tuple[int, int]:
    """(min, max) Workers of an elastic job, with the webhook's defaults: one bound set gives the other its value,
    neither set gives both ``Worker.replicas``."""
    e = job.spec.elastic_policy
    workers = job.replicas[WORKER].replicas if WORKER in job.replicas else 0
    lo = e.min_replicas if e.min_replicas is not None else (e.max_replicas if e.max_replicas is not None else workers)
    hi = e.max_replicas if e.max_replicas is not None else lo
    return lo, hi


def build_hpa(job: JobView) -> Body | None:
    """``pytorch/hpa.go``: an ``autoscaling/v2`` HPA ``{job}`` over the job's scale subresource (Workers between the
    elastic bounds, on ``elasticPolicy.metrics``); None without metrics. Unlike upstream, the target names its
    ``apiVersion``: without it the HPA controller looks for a PyTorchJob in the core group and cannot scale."""
    e = job.spec.elastic_policy
    if e is None or not e.metrics:
        return None
    lo, hi = elastic_bounds(job)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": job.name, "namespace": job.namespace, "labels": {JOB_NAME_LABEL: job.name}},
            "spec": {"scaleTargetRef": {"apiVersion": API_VERSION, "kind": job.kind, "name": job.name},
                     "minReplicas": lo, "maxReplicas": hi, "metrics": [dict(m) for m in e.metrics]}}


def elastic_env(job: JobView) -> list[Body]:
    """``ElasticEnvVarGenerator``: the torchrun rendezvous."""
    e = job.spec.elastic_policy
    port = e.rdzv_port if e.rdzv_port is not None else port_of(job, WORKER, "pytorch", "pytorchjob-port", 23456)
    host = e.rdzv_host or f"{job.name}-worker-0"
    out = [env_var("PET_RDZV_ENDPOINT", f"{host}:{port}"),
           env_var("PET_RDZV_BACKEND", e.rdzv_backend or "c10d")]
    lo, hi = elastic_bounds(job)
    out.append(env_var("PET_NNODES", f"{lo}:{hi}"))
    if e.max_restarts is not None:
        out.append(env_var("PET_MAX_RESTARTS", str(e.max_restarts)))
    if e.n_proc_per_node is not None:
        out.append(env_var("PET_NPROC_PER_NODE", str(e.n_proc_per_node)))
    if e.rdzv_id is not None:
        out.append(env_var("PET_RDZV_ID", e.rdzv_id))
    if e.rdzv_conf:
        out.append(env_var("PET_RDZV_CONF", ",".join(f"{c.key}={c.value}" for c in e.rdzv_conf)))
    if e.standalone:
        out.append(env_var("PET_STANDALONE", ""))
    return out
