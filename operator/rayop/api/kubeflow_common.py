"""Types every ``kubeflow.org/v1`` training job shares (training-operator v1.9 ``common_types.go``).

``ReplicaSpec``, ``RunPolicy`` and ``JobStatus`` are field-for-field Kubeflow's, so a manifest written for the
training-operator is stored unchanged. Defaults that depend on the kind (a TFJob's replica restarts ``Never``, a
PyTorchJob's ``OnFailure``; MPI workers default to 0 replicas) are applied by the controller when it reads a job
(:mod:`rayop.operator.kubeflow.defaults`), as the training-operator's defaulting webhook would; they are not
persisted (README, "deliberately differs").
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from rayop.api.base import ApiModel, PrinterColumn, k8s_type
from rayop.api.types import DateTime, Int32, Int64, PodTemplateSpec, Quantity, cel

if TYPE_CHECKING:
    LabelSelector = dict[str, Any]
else:
    LabelSelector = k8s_type("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector")

GROUP = "kubeflow.org"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"

# Labels (common_types.go).
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
OPERATOR_NAME_LABEL = "training.kubeflow.org/operator-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
JOB_ROLE_LABEL = "training.kubeflow.org/job-role"
JOB_ROLE_MASTER = "master"

#: The ``managedBy`` values the training-operator acts on (empty means the same as the first).
MANAGED_BY_TRAINING_OPERATOR = "kubeflow.org/training-operator"
MANAGED_BY_MULTIKUEUE = "kueue.x-k8s.io/multikueue"


class RestartPolicy(StrEnum):
    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    NEVER = "Never"
    EXIT_CODE = "ExitCode"


class CleanPodPolicy(StrEnum):
    ALL = "All"
    RUNNING = "Running"
    NONE = "None"


class ConditionType(StrEnum):
    CREATED = "Created"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    SUSPENDED = "Suspended"
    FAILED = "Failed"


class ReplicaSpec(ApiModel):
    """One replica type of a job: how many pods, from which template, restarted how."""

    replicas: Int32 | None = None
    """Desired number of replicas (defaults to 1; MPI workers to 0)."""
    template: PodTemplateSpec | None = None
    """The pod of each replica; its restartPolicy is overwritten by ``restartPolicy`` below."""
    restart_policy: RestartPolicy | None = None
    """Always, OnFailure, Never or ExitCode (restart on exit codes 128 and above, i.e. signals); the default
    depends on the kind."""


class SchedulingPolicy(ApiModel):
    """Gang-scheduling hints (used by Volcano / scheduler-plugins upstream; rayop's gang start reads minAvailable)."""

    min_available: Int32 | None = None
    """Minimum replicas that must be placeable together."""
    queue: str | None = Field(default=None, json_schema_extra=cel(
        ("self == oldSelf", "spec.runPolicy.schedulingPolicy.queue is immutable")))
    """The scheduler queue (immutable)."""
    min_resources: dict[str, Quantity] | None = None
    """Minimum resources of the gang."""
    priority_class: str | None = None
    """Priority class of the gang."""
    schedule_timeout_seconds: Int32 | None = None
    """How long the gang may wait to be scheduled."""


class RunPolicy(ApiModel):
    """Runtime policies of a job: cleanup, deadlines, retries, scheduling, suspension."""

    clean_pod_policy: CleanPodPolicy | None = None
    """Which pods to delete once the job finished: All, Running (Running and Pending) or None (default)."""
    ttl_seconds_after_finished: Int32 | None = None
    """Delete the job this many seconds after it finished (unset: never)."""
    active_deadline_seconds: Int64 | None = Field(default=None, ge=0)
    """Fail the job this many seconds after status.startTime."""
    backoff_limit: Int32 | None = Field(default=None, ge=0)
    """Fail the job after this many pod restarts/recreations."""
    scheduling_policy: SchedulingPolicy | None = None
    """Gang-scheduling hints."""
    suspend: bool | None = False
    """Suspend the job: its pods and Services are deleted and the job stays until resumed (Kueue)."""
    managed_by: str | None = Field(default=None, json_schema_extra=cel(
        ("self == oldSelf", "spec.runPolicy.managedBy is immutable")))
    """The controller that manages this job; only ``kubeflow.org/training-operator`` (or unset) is run here."""


class JobCondition(ApiModel):
    """One condition of a job (Kubeflow's JobCondition, with lastUpdateTime)."""

    type: str
    """Created, Running, Restarting, Succeeded, Suspended or Failed."""
    status: Literal["True", "False", "Unknown"]
    """Condition status."""
    reason: str | None = None
    """``<Kind><Reason>``, e.g. TFJobRunning."""
    message: str | None = None
    """Human-readable details."""
    last_update_time: DateTime | None = None
    """When the condition was last updated."""
    last_transition_time: DateTime | None = None
    """When the status last changed."""


class ReplicaStatus(ApiModel):
    """Counts of one replica type's pods."""

    active: Int32 | None = None
    """Running pods."""
    succeeded: Int32 | None = None
    """Succeeded pods."""
    failed: Int32 | None = None
    """Failed pods."""
    label_selector: LabelSelector | None = None
    """Deprecated: the selector of this replica type's pods."""
    selector: str | None = None
    """The selector of this replica type's pods, as a string (for the scale subresource)."""


class JobStatus(ApiModel):
    """Observed state of a training job."""

    conditions: list[JobCondition] | None = None
    """Conditions, in the order they were first added."""
    replica_statuses: dict[str, ReplicaStatus] | None = None
    """Per replica type (PS, Worker, ...)."""
    start_time: DateTime | None = None
    """When the job was first reconciled (reset when resumed); activeDeadlineSeconds counts from here."""
    completion_time: DateTime | None = None
    """When the job finished."""
    last_reconcile_time: DateTime | None = None
    """When the job was last reconciled."""


def printer_columns() -> tuple[PrinterColumn, ...]:
    """The training-operator's columns: State (the last condition's type) and Age."""
    return (PrinterColumn("State", ".status.conditions[-1:].type"),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"))
