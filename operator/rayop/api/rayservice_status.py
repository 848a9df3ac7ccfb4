"""The RayService status (``RayServiceStatuses``), field-complete with KubeRay v1.7.

Two sides, active and pending, each with the cluster it runs on and what Ray Serve reported for it; conditions
with KubeRay's types and reasons; the deprecated ``serviceStatus`` (``Running`` iff ``Ready`` is True).  Status
strings are plain ``str``: KubeRay's CRD has no enums on them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from rayop.api.base import ApiModel
from rayop.api.conditions import Condition
from rayop.api.raycluster_status import RayClusterStatus
from rayop.api.types import DateTime, Int32, Int64


class ApplicationStatus(StrEnum):
    """Ray Serve's ``ApplicationStatus``."""

    NOT_STARTED = "NOT_STARTED"
    DEPLOYING = "DEPLOYING"
    RUNNING = "RUNNING"
    DEPLOY_FAILED = "DEPLOY_FAILED"
    DELETING = "DELETING"
    UNHEALTHY = "UNHEALTHY"


class DeploymentStatus(StrEnum):
    """Ray Serve's deployment statuses KubeRay names (Ray also reports DEPLOY_FAILED, UPSCALING, DOWNSCALING)."""

    UPDATING = "UPDATING"
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"


class ServiceStatus(StrEnum):
    """Deprecated ``status.serviceStatus``: ``Running`` iff Ready, else empty (KubeRay's ``NotRunning``)."""

    RUNNING = "Running"
    NOT_RUNNING = ""


class ConditionType(StrEnum):
    """RayService condition types."""

    READY = "Ready"
    UPGRADE_IN_PROGRESS = "UpgradeInProgress"
    ROLLBACK_IN_PROGRESS = "RollbackInProgress"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"


class ConditionReason(StrEnum):
    """KubeRay's RayService condition reasons."""

    INITIALIZING = "Initializing"
    INITIALIZING_TIMEOUT = "InitializingTimeout"
    ZERO_SERVE_ENDPOINTS = "ZeroServeEndpoints"
    NON_ZERO_SERVE_ENDPOINTS = "NonZeroServeEndpoints"
    BOTH_ACTIVE_PENDING_CLUSTERS_EXIST = "BothActivePendingClustersExist"
    NO_PENDING_CLUSTER = "NoPendingCluster"
    NO_ACTIVE_CLUSTER = "NoActiveCluster"
    VALIDATION_FAILED = "ValidationFailed"
    DESIRED_CLUSTER_SPEC_CHANGED = "DesiredClusterSpecChanged"
    SUSPEND_REQUESTED = "SuspendRequested"
    SUSPEND_IN_PROGRESS = "SuspendInProgress"
    SUSPEND_COMPLETE = "SuspendComplete"
    RAY_SERVICE_RESUMED = "RayServiceResumed"


class ServeDeploymentStatus(ApiModel):
    """One Serve deployment of an application."""

    status: str | None = None
    """UPDATING, HEALTHY or UNHEALTHY (as Ray reports it)."""
    message: str | None = None
    """Ray's message for the deployment."""


class AppStatus(ApiModel):
    """One Serve application: its status and its deployments'."""

    serve_deployment_statuses: dict[str, ServeDeploymentStatus] | None = None
    """Deployment name to its status."""
    status: str | None = None
    """NOT_STARTED, DEPLOYING, RUNNING, DEPLOY_FAILED, DELETING or UNHEALTHY."""
    message: str | None = None
    """Ray's message for the application (a traceback when DEPLOY_FAILED)."""


class RayServiceStatus(ApiModel):
    """One side of a RayService (active or pending)."""

    application_statuses: dict[str, AppStatus] | None = None
    """Application name (``default`` for an unnamed one) to its status."""
    target_capacity: Int32 | None = Field(default=None, json_schema_extra={"minimum": 0, "maximum": 100})
    """Incremental upgrade: the Serve target_capacity of this cluster."""
    traffic_routed_percent: Int32 | None = Field(default=None, json_schema_extra={"minimum": 0, "maximum": 100})
    """Incremental upgrade: percent of traffic routed to this cluster."""
    last_traffic_migrated_time: DateTime | None = None
    """Incremental upgrade: when traffic last moved."""
    ray_cluster_name: str | None = None
    """The RayCluster of this side."""
    ray_cluster_status: RayClusterStatus | None = None
    """Copy of that cluster's status."""


class RayServiceStatuses(ApiModel):
    """Observed state of a RayService."""

    conditions: list[Condition] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})
    """Ready, UpgradeInProgress, RollbackInProgress, Suspending, Suspended (and rayop's own)."""
    last_update_time: DateTime | None = None
    """When the status was last written."""
    service_status: str | None = None
    """Deprecated: Running iff Ready is True."""
    active_service_status: RayServiceStatus | None = None
    """The side that takes traffic."""
    pending_service_status: RayServiceStatus | None = None
    """The side being prepared during an upgrade."""
    num_serve_endpoints: Int32 | None = None
    """Ready pods behind the serve Service."""
    observed_generation: Int64 | None = None
    """metadata.generation this status was computed from."""
