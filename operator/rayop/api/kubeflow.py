"""The four ``kubeflow.org/v1`` training jobs: TFJob, PyTorchJob, XGBoostJob and MPIJob (training-operator v1.9).

Field-compatible with the training-operator's CRDs (``tensorflow_types.go``, ``pytorch_types.go``,
``xgboost_types.go``, ``mpi_types.go``), so Kubeflow manifests apply unchanged. Replica specs are maps keyed by
replica type (``PS``, ``Worker``, ``Master``...); the controller rewrites the keys to Kubeflow's CamelCase as its
defaulting webhook does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from rayop.api.base import ApiModel, CrdInfo, CustomResource
from rayop.api.kubeflow_common import GROUP, VERSION, CleanPodPolicy, JobStatus, ReplicaSpec, RunPolicy, printer_columns
from rayop.api.types import Int32

#: PyTorchJob's scale subresource (training-operator v1.7+): an HPA scales ``Worker.replicas`` and reads the active
#: Workers and their selector from the status.
WORKER_SCALE = {"specReplicasPath": ".spec.pytorchReplicaSpecs.Worker.replicas",
                "statusReplicasPath": ".status.replicaStatuses.Worker.active",
                "labelSelectorPath": ".status.replicaStatuses.Worker.selector"}

# --------------------------------------------------------------------------- TFJob


class TFJobSpec(ApiModel):
    """A distributed TensorFlow job."""

    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    """Cleanup, deadlines, retries, scheduling and suspension."""
    success_policy: str | None = None
    """``""`` (default: the chief, or worker 0, decides) or ``AllWorkers``."""
    tf_replica_specs: dict[str, ReplicaSpec] = Field(alias="tfReplicaSpecs")
    """Replica types: PS, Worker, Chief (or Master) and Evaluator."""
    enable_dynamic_worker: bool | None = None
    """Sparse TF_CONFIG (a worker sees itself and the PS) and failed workers tolerated."""


class TFJob(CustomResource):
    """A TensorFlow training job."""

    crd: ClassVar[CrdInfo] = CrdInfo(group=GROUP, kind="TFJob", plural="tfjobs", singular="tfjob",
                                     versions=(VERSION,), storage_version=VERSION, categories=("all", "kubeflow"),
                                     printer_columns=printer_columns())
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Standard object metadata."""
    spec: TFJobSpec
    status: JobStatus | None = None


# --------------------------------------------------------------------------- PyTorchJob


class RDZVConf(ApiModel):
    key: str | None = None
    value: str | None = None


class ElasticPolicy(ApiModel):
    """torchrun's elastic launch (``PET_*`` variables)."""

    min_replicas: Int32 | None = None
    """Lower bound of workers (defaults to maxReplicas, or Worker.replicas)."""
    max_replicas: Int32 | None = None
    """Upper bound of workers (defaults to minReplicas, or Worker.replicas)."""
    rdzv_backend: str | None = None
    """c10d (default), etcd or etcd-v2."""
    rdzv_port: Int32 | None = None
    rdzv_host: str | None = None
    rdzv_id: str | None = None
    rdzv_conf: list[RDZVConf] | None = None
    """Extra rendezvous options (PET_RDZV_CONF=k1=v1,k2=v2)."""
    standalone: bool | None = None
    n_proc_per_node: Int32 | None = Field(default=None, alias="nProcPerNode")
    """Deprecated: use spec.nprocPerNode."""
    max_restarts: Int32 | None = None
    metrics: list[dict[str, object]] | None = Field(default=None, json_schema_extra={
        "type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}})
    """autoscaling/v2 metrics: if set, an HPA named after the job scales its Workers between min and max."""


class PyTorchJobSpec(ApiModel):
    """A distributed PyTorch job."""

    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    """Cleanup, deadlines, retries, scheduling and suspension."""
    elastic_policy: ElasticPolicy | None = None
    """torchrun elastic settings."""
    pytorch_replica_specs: dict[str, ReplicaSpec] = Field(alias="pytorchReplicaSpecs")
    """Replica types: Master and Worker."""
    nproc_per_node: str | None = Field(default=None, alias="nprocPerNode")
    """Processes per node: auto (default), cpu, gpu or a number."""


class PyTorchJob(CustomResource):
    """A PyTorch training job."""

    crd: ClassVar[CrdInfo] = CrdInfo(group=GROUP, kind="PyTorchJob", plural="pytorchjobs", singular="pytorchjob",
                                     versions=(VERSION,), storage_version=VERSION, categories=("all", "kubeflow"),
                                     printer_columns=printer_columns(), scale=WORKER_SCALE)
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Standard object metadata."""
    spec: PyTorchJobSpec
    status: JobStatus | None = None


# --------------------------------------------------------------------------- XGBoostJob


class XGBoostJobSpec(ApiModel):
    """A distributed XGBoost (Rabit) job."""

    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    """Cleanup, deadlines, retries, scheduling and suspension."""
    xgb_replica_specs: dict[str, ReplicaSpec] = Field(alias="xgbReplicaSpecs")
    """Replica types: Master and Worker."""


class XGBoostJob(CustomResource):
    """An XGBoost training job."""

    crd: ClassVar[CrdInfo] = CrdInfo(group=GROUP, kind="XGBoostJob", plural="xgboostjobs", singular="xgboostjob",
                                     versions=(VERSION,), storage_version=VERSION, categories=("all", "kubeflow"),
                                     printer_columns=printer_columns())
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Standard object metadata."""
    spec: XGBoostJobSpec
    status: JobStatus | None = None


# --------------------------------------------------------------------------- MPIJob


class MPIJobSpec(ApiModel):
    """An MPI job: one launcher running mpirun over SSH into the workers."""

    slots_per_worker: Int32 | None = None
    """Slots (processes) per worker in the hostfile (default 1)."""
    clean_pod_policy: CleanPodPolicy | None = None
    """Deprecated: use runPolicy.cleanPodPolicy."""
    mpi_replica_specs: dict[str, ReplicaSpec] = Field(alias="mpiReplicaSpecs")
    """Replica types: Launcher (exactly 1) and Worker."""
    main_container: str | None = None
    """The container of each pod that runs the MPI process (default ``mpi``)."""
    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    """Cleanup, deadlines, retries, scheduling and suspension."""


class MPIJob(CustomResource):
    """An MPI training job."""

    crd: ClassVar[CrdInfo] = CrdInfo(group=GROUP, kind="MPIJob", plural="mpijobs", singular="mpijob",
                                     versions=(VERSION,), storage_version=VERSION, categories=("all", "kubeflow"),
                                     printer_columns=printer_columns())
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Standard object metadata."""
    spec: MPIJobSpec
    status: JobStatus | None = None


KINDS: tuple[type[CustomResource], ...] = (TFJob, PyTorchJob, XGBoostJob, MPIJob)
