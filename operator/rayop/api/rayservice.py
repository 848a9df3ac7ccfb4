"""The RayService custom resource (``ray.io/v1``), field-complete with KubeRay v1.7.

A RayService serves Ray Serve applications (``serveConfigV2``) on a RayCluster made from ``rayClusterConfig`` and
upgrades them without downtime: a changed cluster spec gets a new cluster, traffic moves once it serves, the old one
goes.  These models are the single source of truth for the RayService CRD (``rayop crds generate``); fields, defaults,
printer columns and CEL rules are KubeRay's (``shared/reference/kuberay.md`` 1.4, ``kuberay-since-v1.5.md``).

As for every kind, runtime parsing is lenient where the CRD is strict; KubeRay's controller-side checks (with its
messages) live in :mod:`rayop.operator.rayservice.validation`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from rayop.api.base import ApiModel, CrdInfo, CustomResource, PrinterColumn
from rayop.api.raycluster import RayClusterSpec
from rayop.api.rayservice_status import (
    ApplicationStatus,
    AppStatus,
    ConditionReason,
    ConditionType,
    DeploymentStatus,
    RayServiceStatus,
    RayServiceStatuses,
    ServeDeploymentStatus,
    ServiceStatus,
)
from rayop.api.types import Int32, Service, crd_default, no_crd_default
from rayop.api.types import cel as _cel

#: KubeRay's default of ``rayClusterDeletionDelaySeconds`` (``RayClusterDeletionDelayDuration``).
DEFAULT_DELETION_DELAY_S = 60
#: KubeRay's RayService name limit (53 - len("-rand5") so ``<svc>-<rand5>-serve-svc`` fits a DNS label).
MAX_NAME_LENGTH = 47


class UpgradeType(StrEnum):
    """``upgradeStrategy.type`` (KubeRay's CRD has no enum; validation rejects other values)."""

    NEW_CLUSTER = "NewCluster"
    NEW_CLUSTER_WITH_INCREMENTAL_UPGRADE = "NewClusterWithIncrementalUpgrade"
    NONE = "None"


class ClusterUpgradeOptions(ApiModel):
    """How ``NewClusterWithIncrementalUpgrade`` moves capacity and traffic (needs a Gateway API implementation)."""

    model_config = {
        "json_schema_extra": _cel(
            (
                "!has(self.maxSurgePercent) || self.stepSizePercent <= self.maxSurgePercent",
                "stepSizePercent must be less than or equal to maxSurgePercent",
            ),
        )
    }

    max_surge_percent: Int32 | None = Field(
        default=100, json_schema_extra={"minimum": 0, "maximum": 100, **crd_default(100)})
    """Percent of capacity the pending cluster's target_capacity grows by per step."""
    step_size_percent: Int32 = Field(json_schema_extra={"minimum": 0, "maximum": 100})
    """Percent of traffic moved to the pending cluster per interval (at most maxSurgePercent)."""
    interval_seconds: Int32 = Field(json_schema_extra={"minimum": 1})
    """Seconds between traffic steps."""
    gateway_class_name: str = Field(json_schema_extra={"minLength": 1})
    """GatewayClass of the Gateway the operator creates."""


class RayServiceUpgradeStrategy(ApiModel):
    """How a changed ``rayClusterConfig`` is rolled out."""

    type: str | None = None
    """NewCluster (blue/green, the default), NewClusterWithIncrementalUpgrade or None (serve config in place only)."""
    cluster_upgrade_options: ClusterUpgradeOptions | None = None
    """Only for NewClusterWithIncrementalUpgrade."""


class RayServiceSpec(ApiModel):
    """Desired state of a RayService."""

    ray_cluster_deletion_delay_seconds: Int32 | None = Field(default=None, json_schema_extra={"minimum": 0})
    """Seconds an old (or dangling) cluster is kept after it stopped taking traffic (default 60)."""
    service_unhealthy_second_threshold: Int32 | None = None
    """Deprecated and unused (KubeRay issue 1685)."""
    deployment_unhealthy_second_threshold: Int32 | None = None
    """Deprecated and unused (KubeRay issue 1685)."""
    serve_service: Service | None = None
    """A custom serve Service (its name may be set; the namespace is ignored)."""
    upgrade_strategy: RayServiceUpgradeStrategy | None = None
    """How cluster spec changes are rolled out."""
    serve_config_v2: str | None = Field(default=None, alias="serveConfigV2")
    """Ray Serve multi-application config, as a YAML string (PUT as JSON to the Serve REST API)."""
    ray_cluster_config: RayClusterSpec = Field(alias="rayClusterConfig")
    """Template of each generation's RayCluster (headService.metadata.name must not be set)."""
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
    """Controller in charge; kueue.x-k8s.io/multikueue makes the operator leave the RayService alone. Immutable."""
    exclude_head_pod_from_serve_svc: bool = Field(default=False, json_schema_extra=no_crd_default)
    """Keep the head pod out of the serve Service (its ray.io/serve label stays "false")."""
    suspend: bool = Field(default=False, json_schema_extra=no_crd_default)
    """Delete every cluster and Service of the RayService (atomically) while true; the RayService stays."""

    def upgrade_type(self) -> str | None:
        return self.upgrade_strategy.type if self.upgrade_strategy else None

    def deletion_delay_seconds(self) -> int:
        value = self.ray_cluster_deletion_delay_seconds
        return DEFAULT_DELETION_DELAY_S if value is None else value


class RayService(CustomResource):
    """Ray Serve applications with the Ray cluster they run on, upgraded without downtime."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        group="ray.io",
        kind="RayService",
        plural="rayservices",
        singular="rayservice",
        versions=("v1", "v1alpha1"),
        storage_version="v1",
        deprecated_versions=("v1alpha1",),
        printer_columns=(
            PrinterColumn("service status", ".status.serviceStatus"),
            PrinterColumn("num serve endpoints", ".status.numServeEndpoints", "integer"),
        ),
    )

    api_version: str = "ray.io/v1"
    """API version of the object."""
    kind: str = "RayService"
    """Kind of the object."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Standard object metadata."""
    spec: RayServiceSpec
    """Desired state."""
    status: RayServiceStatuses | None = None
    """Observed state."""


__all__ = [
    "DEFAULT_DELETION_DELAY_S", "MAX_NAME_LENGTH", "AppStatus", "ApplicationStatus", "ClusterUpgradeOptions",
    "ConditionReason", "ConditionType", "DeploymentStatus", "RayService", "RayServiceSpec", "RayServiceStatus",
    "RayServiceStatuses", "RayServiceUpgradeStrategy", "ServeDeploymentStatus", "ServiceStatus", "UpgradeType",
]
