"""The RayJob status (``RayJobStatus``), field-complete with KubeRay v1.7.

Status strings are plain ``str`` (the enums are in :mod:`rayop.api.rayjob`): KubeRay's CRD has no enum on them,
and an unset value (``None``) is KubeRay's empty string, i.e. ``JobStatus.NEW`` / ``JobDeploymentStatus.NEW``.
"""

from __future__ import annotations

from pydantic import Field

from rayop.api.base import ApiModel
from rayop.api.raycluster_status import RayClusterStatus
from rayop.api.types import DateTime, Int32, Int64, crd_default


class RayJobStatusInfo(ApiModel):
    """Times of the Ray job as the Ray dashboard reports them."""

    start_time: DateTime | None = None
    """When the Ray job started."""
    end_time: DateTime | None = None
    """When the Ray job ended."""


class RayJobStatus(ApiModel):
    """Observed state of a RayJob."""

    job_id: str | None = None
    """Submission ID of the current attempt."""
    ray_cluster_name: str | None = None
    """Name of the RayCluster the job runs on (generated or selected)."""
    dashboard_url: str | None = Field(default=None, alias="dashboardURL")
    """Dashboard address of that cluster, host:port without scheme."""
    job_status: str | None = None
    """Ray job status: PENDING, RUNNING, STOPPED, SUCCEEDED or FAILED (unset before the first report)."""
    job_deployment_status: str | None = None
    """Controller state (JobDeploymentStatus), e.g. Initializing, Running, Complete or Failed; unset while New."""
    reason: str | None = None
    """Why the RayJob failed (JobFailedReason)."""
    message: str | None = None
    """Details of the current state."""
    start_time: DateTime | None = None
    """When the RayJob went from New to Initializing; deadlines count from here."""
    end_time: DateTime | None = None
    """When the RayJob reached Complete or Failed."""
    succeeded: Int32 | None = Field(default=0, json_schema_extra=crd_default(0))
    """Number of attempts that succeeded."""
    failed: Int32 | None = Field(default=0, json_schema_extra=crd_default(0))
    """Number of attempts that failed."""
    ray_cluster_status: RayClusterStatus | None = None
    """Copy of the status of the RayCluster running the job."""
    ray_job_info: RayJobStatusInfo | None = None
    """Ray job times from the Ray dashboard."""
    job_status_check_failure_start_time: DateTime | None = None
    """First time the dashboard job-status check failed in a row; reset on success."""
    observed_generation: Int64 | None = None
    """metadata.generation this status was computed from."""
