"""The RayJob custom resource (``ray.io/v1``), field-complete with KubeRay v1.7.

A RayJob runs one Ray job: it creates a RayCluster from ``rayClusterSpec`` (or uses the one ``clusterSelector``
names), submits ``entrypoint`` in one of four submission modes, follows the job and cleans up after it.  These models
are the single source of truth for the RayJob CRD (``rayop crds generate``).  Field names, enums, defaults, printer
columns and CEL rules are KubeRay's (``shared/reference/kuberay.md`` 1.3, ``kuberay-since-v1.5.md``), so every
manifest written for KubeRay is stored exactly as KubeRay's CRD stores it.

Runtime parsing stays lenient where the CRD is strict (enums, minimums): the API server enforces those, and the
operator must never fail to parse a stored object.  KubeRay's controller-side checks, with its messages, live in
:mod:`rayop.operator.rayjob.validation`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from rayop.api.base import ApiModel, CrdInfo, CustomResource, PrinterColumn
from rayop.api.raycluster import RayClusterSpec
from rayop.api.rayjob_status import RayJobStatus, RayJobStatusInfo
from rayop.api.types import Int32, PodTemplateSpec, crd_default, no_crd_default
from rayop.api.types import cel as _cel

# ----------------------------------------------------------------------------------------------------
# Enums (KubeRay's string constants; the wire values are KubeRay's exactly)
# ----------------------------------------------------------------------------------------------------


class JobStatus(StrEnum):
    """Status of the Ray job as the Ray dashboard reports it (``""`` before the first report)."""

    NEW = ""
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class JobDeploymentStatus(StrEnum):
    """The RayJob controller's own state machine: cluster lifecycle and submission."""

    NEW = ""
    INITIALIZING = "Initializing"
    RUNNING = "Running"
    COMPLETE = "Complete"
    FAILED = "Failed"
    VALIDATION_FAILED = "ValidationFailed"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    RETRYING = "Retrying"
    WAITING = "Waiting"


class JobFailedReason(StrEnum):
    """``status.reason`` when the RayJob goes Failed (or ValidationFailed)."""

    SUBMISSION_FAILED = "SubmissionFailed"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    PRE_RUNNING_DEADLINE_EXCEEDED = "PreRunningDeadlineExceeded"
    APP_FAILED = "AppFailed"
    JOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_EXCEEDED = "JobDeploymentStatusTransitionGracePeriodExceeded"
    JOB_STATUS_CHECK_TIMEOUT_EXCEEDED = "JobStatusCheckTimeoutExceeded"
    VALIDATION_FAILED = "ValidationFailed"


class SubmissionMode(StrEnum):
    """How the job reaches the cluster (KubeRay's ``JobSubmissionMode``; no enum in its CRD)."""

    K8S_JOB_MODE = "K8sJobMode"
    HTTP_MODE = "HTTPMode"
    INTERACTIVE_MODE = "InteractiveMode"
    SIDECAR_MODE = "SidecarMode"


class DeletionPolicyType(StrEnum):
    """What a deletion policy or rule deletes once the job is finished."""

    DELETE_CLUSTER = "DeleteCluster"
    DELETE_WORKERS = "DeleteWorkers"
    DELETE_SELF = "DeleteSelf"
    DELETE_NONE = "DeleteNone"


#: Ray job statuses after which the job never runs again (KubeRay's ``IsJobTerminal``, Ray's ``is_terminal``).
TERMINAL_JOB_STATUSES = frozenset({JobStatus.STOPPED, JobStatus.SUCCEEDED, JobStatus.FAILED})
#: Deployment statuses KubeRay treats as finished (``IsJobDeploymentTerminal``).
TERMINAL_DEPLOYMENT_STATUSES = frozenset({JobDeploymentStatus.COMPLETE, JobDeploymentStatus.FAILED})

_POLICY_ENUM: dict[str, Any] = {"enum": [p.value for p in DeletionPolicyType]}


# ----------------------------------------------------------------------------------------------------
# Deletion strategy
# ----------------------------------------------------------------------------------------------------


class DeletionCondition(ApiModel):
    """When a deletion rule fires: exactly one of jobStatus or jobDeploymentStatus, plus a delay."""

    model_config = {
        "json_schema_extra": _cel(
            (
                "!(has(self.jobStatus) && has(self.jobDeploymentStatus))",
                "JobStatus and JobDeploymentStatus cannot be used together within the same deletion condition.",
            ),
            (
                "has(self.jobStatus) || has(self.jobDeploymentStatus)",
                "the deletion condition requires either the JobStatus or the JobDeploymentStatus field.",
            ),
        )
    }

    job_status: str | None = Field(default=None, json_schema_extra={"enum": ["SUCCEEDED", "FAILED"]})
    """Terminal Ray job status that triggers the rule (SUCCEEDED or FAILED)."""
    job_deployment_status: str | None = Field(default=None, json_schema_extra={"enum": ["Failed"]})
    """Terminal deployment status that triggers the rule (only Failed), e.g. to clean up failed submissions."""
    ttl_seconds: Int32 = Field(default=0, json_schema_extra={"minimum": 0})
    """Seconds after the status is reached (status.endTime) before the rule acts."""


class DeletionRule(ApiModel):
    """One deletion action and its trigger."""

    policy: str = Field(json_schema_extra=_POLICY_ENUM)
    """What to delete: DeleteCluster, DeleteWorkers, DeleteSelf or DeleteNone."""
    condition: DeletionCondition
    """When to delete it."""


class DeletionPolicy(ApiModel):
    """The legacy single-stage deletion policy (deprecated in favour of deletionRules)."""

    policy: str | None = Field(default=None, json_schema_extra=_POLICY_ENUM)
    """What to delete; optional in the schema, required by validation when the legacy fields are used."""


class DeletionStrategy(ApiModel):
    """Cleanup after the job finishes: legacy onSuccess and onFailure, or deletionRules (never both)."""

    model_config = {
        "json_schema_extra": _cel(
            (
                "!((has(self.onSuccess) || has(self.onFailure)) && has(self.deletionRules))",
                "legacy policies (onSuccess/onFailure) and deletionRules cannot be used together within the same "
                "deletionStrategy",
            ),
            (
                "((has(self.onSuccess) && has(self.onFailure)) || has(self.deletionRules))",
                "deletionStrategy requires either BOTH onSuccess and onFailure, OR the deletionRules field "
                "(cannot be empty)",
            ),
        )
    }

    on_success: DeletionPolicy | None = None
    """Deprecated: policy applied when the job SUCCEEDED (use deletionRules)."""
    on_failure: DeletionPolicy | None = None
    """Deprecated: policy applied when the job FAILED (use deletionRules)."""
    deletion_rules: list[DeletionRule] | None = Field(
        default=None, json_schema_extra={"minItems": 1, "x-kubernetes-list-type": "atomic"}
    )
    """Rules by trigger; when several are overdue the most impactful one (DeleteSelf first) runs first."""


class SubmitterConfig(ApiModel):
    """Settings of the submitter."""

    backoff_limit: Int32 | None = None
    """K8sJobMode: the submitter Job's backoffLimit (default 2); SidecarMode: max submitter container restarts."""


# ----------------------------------------------------------------------------------------------------
# Spec and resource
# ----------------------------------------------------------------------------------------------------


class RayJobSpec(ApiModel):
    """Desired state of a RayJob."""

    entrypoint: str | None = None
    """Command the job runs (`ray job submit -- <entrypoint>`)."""
    runtime_env_yaml: str | None = Field(default=None, alias="runtimeEnvYAML")
    """Ray runtime environment as a multi-line YAML string."""
    job_id: str | None = None
    """Submission ID; generated when empty (InteractiveMode: set it after submitting the job yourself)."""
    metadata: dict[str, str] | None = None
    """Metadata stored with the Ray job (needs Ray >= 2.6.0)."""
    entrypoint_num_cpus: float | None = None
    """CPUs reserved for the entrypoint command."""
    entrypoint_num_gpus: float | None = None
    """GPUs reserved for the entrypoint command."""
    entrypoint_resources: str | None = None
    """Custom resources reserved for the entrypoint command, as a JSON object string."""
    submission_mode: str = SubmissionMode.K8S_JOB_MODE.value
    """K8sJobMode (submitter Job), HTTPMode (operator submits), InteractiveMode (you submit), SidecarMode (head)."""
    ray_cluster_spec: RayClusterSpec | None = None
    """The cluster to create for the job (one of this or clusterSelector is required)."""
    cluster_selector: dict[str, str] | None = None
    """Run on an existing cluster, named by the ray.io/cluster key."""
    submitter_pod_template: PodTemplateSpec | None = None
    """Pod template of the K8sJobMode submitter (default: one container running `ray job submit`)."""
    submitter_config: SubmitterConfig | None = None
    """Settings of the submitter."""
    shutdown_after_job_finishes: bool = Field(default=False, json_schema_extra=no_crd_default)
    """Delete the RayCluster once the job has finished (after ttlSecondsAfterFinished)."""
    ttl_seconds_after_finished: Int32 = 0
    """Seconds to keep the cluster after the job finished; needs shutdownAfterJobFinishes."""
    active_deadline_seconds: Int32 | None = None
    """Seconds from status.startTime after which the job fails with DeadlineExceeded (positive)."""
    pre_running_deadline_seconds: Int32 | None = Field(default=None, json_schema_extra={"minimum": 1})
    """Seconds from status.startTime within which the job must reach Running, else PreRunningDeadlineExceeded."""
    backoff_limit: Int32 | None = Field(default=None, json_schema_extra=crd_default(0))
    """Retries of the whole RayJob before it is marked failed; each retry creates a new RayCluster."""
    suspend: bool = Field(default=False, json_schema_extra=no_crd_default)
    """Do not create the cluster (delete it if created) while true; needs shutdownAfterJobFinishes (Kueue)."""
    managed_by: str | None = Field(
        default=None,
        json_schema_extra=_cel(
            ("self == oldSelf", "the managedBy field is immutable"),
            (
                "self in ['ray.io/kuberay-operator', 'kueue.x-k8s.io/multikueue']",
                "the managedBy field value must be either 'ray.io/kuberay-operator' or "
                "'kueue.x-k8s.io/multikueue'",
            ),
        ),
    )
    """Controller in charge; kueue.x-k8s.io/multikueue makes the operator leave the RayJob to Kueue. Immutable."""
    deletion_strategy: DeletionStrategy | None = None
    """Cleanup after the job finishes (instead of shutdownAfterJobFinishes for deletionRules)."""


class RayJob(CustomResource):
    """A Ray job together with the Ray cluster it runs on."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        group="ray.io",
        kind="RayJob",
        plural="rayjobs",
        singular="rayjob",
        versions=("v1", "v1alpha1"),
        storage_version="v1",
        deprecated_versions=("v1alpha1",),
        printer_columns=(
            PrinterColumn("job status", ".status.jobStatus"),
            PrinterColumn("deployment status", ".status.jobDeploymentStatus"),
            PrinterColumn("ray cluster name", ".status.rayClusterName"),
            PrinterColumn("start time", ".status.startTime"),
            PrinterColumn("end time", ".status.endTime"),
            PrinterColumn("age", ".metadata.creationTimestamp", "date"),
        ),
    )

    api_version: str = "ray.io/v1"
    """API version of the object."""
    kind: str = "RayJob"
    """Kind of the object."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Standard object metadata."""
    spec: RayJobSpec = Field(default_factory=RayJobSpec)
    """Desired state (optional in KubeRay's CRD; validation requires rayClusterSpec or clusterSelector)."""
    status: RayJobStatus | None = None
    """Observed state."""


__all__ = [
    "TERMINAL_DEPLOYMENT_STATUSES", "TERMINAL_JOB_STATUSES", "DeletionCondition", "DeletionPolicy",
    "DeletionPolicyType", "DeletionRule", "DeletionStrategy", "JobDeploymentStatus", "JobFailedReason", "JobStatus",
    "RayJob", "RayJobSpec", "RayJobStatus", "RayJobStatusInfo", "SubmissionMode", "SubmitterConfig",
]
