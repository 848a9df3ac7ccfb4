"""The RayCluster custom resource (``ray.io/v1``), field-complete with KubeRay v1.

These models are the single source of truth for the RayCluster CRD: the operator parses ``spec`` into them
and the CRD generator turns them into ``crds/``.  Field names, enums, defaults and CEL rules follow KubeRay so
that every manifest written for KubeRay is accepted unchanged (see ``shared/reference/kuberay.md`` 1.1, 1.2).

CEL rules are only used where KubeRay's own controller-side check can be stated exactly at admission time; the
full set of KubeRay's checks (with its messages) lives in :mod:`rayop.operator.raycluster.validation`.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from rayop.api.base import ApiModel, CrdInfo, CustomResource, PrinterColumn
from rayop.api.raycluster_addons import (
    AuthOptions,
    CollectorOptions,
    GcsEmbeddedStorage,
    GcsFaultToleranceOptions,
    HistoryServerOptions,
    IngressOptions,
    NetworkPolicyConfig,
    NetworkPolicyRules,
    RayClusterUpgradeStrategy,
    RedisCredential,
    TLSOptions,
    WorkerGroupNetworkPolicyRules,
)
from rayop.api.raycluster_status import Condition, HeadInfo, RayClusterStatus
from rayop.api.types import (
    MAX_INT32,
    EnvFromSourceList,
    EnvVarList,
    Int32,
    PodTemplateSpec,
    ResourceRequirements,
    SecurityContext,
    Service,
    VolumeMountList,
)
from rayop.api.types import cel as _cel

#: Alpha add-ons KubeRay keeps behind feature gates that are off by default.  rayop accepts these fields (so
#: manifests round-trip and the API server stores them) but does not act on them; validation reports them with
#: KubeRay's own "feature gate" messages, exactly as KubeRay does with its gates off.  Maps the spec path to
#: KubeRay's feature-gate name.
UNSUPPORTED_ALPHA_FIELDS: dict[str, str] = {
    "spec.networkPolicy": "RayClusterNetworkPolicy",
    "spec.tlsOptions": "RayClusterMTLS",
    "spec.historyServerOptions": "RayClusterHistoryServer",
    "spec.gcsFaultToleranceOptions.backend=rocksdb": "GCSFaultToleranceEmbeddedStorage",
}


class ScaleStrategy(ApiModel):
    """Targeted scale-down requests, written by the autoscaler."""

    workers_to_delete: list[str] | None = None
    """Names of worker pods to delete."""


# ----------------------------------------------------------------------------------------------------
# Groups
# ----------------------------------------------------------------------------------------------------

_RESOURCE_CONFLICT_RULE = (
    "!has(self.resources) || size(self.resources) == 0 || !has(self.rayStartParams) || "
    "!['num-cpus', 'num-gpus', 'memory', 'resources'].exists(k, k in self.rayStartParams && "
    "self.rayStartParams[k] != '')"
)
_LABELS_PARAM_RULE = "!has(self.rayStartParams) || !('labels' in self.rayStartParams)"


class HeadGroupSpec(ApiModel):
    """The head pod."""

    model_config = {
        "json_schema_extra": _cel(
            (
                _RESOURCE_CONFLICT_RULE,
                "resource fields should not be set in both rayStartParams and Resources for Head group; "
                "please use only one",
            ),
            (
                _LABELS_PARAM_RULE,
                "rayStartParams['labels'] is not supported for Head group; "
                "please use the top-level Labels field instead",
            ),
        )
    }

    template: PodTemplateSpec
    """Head pod template; container 0 is the Ray container."""
    head_service: Service | None = None
    """Template merged into the generated head Service."""
    enable_ingress: bool | None = None
    """Create an Ingress for the dashboard."""
    ingress_options: IngressOptions | None = None
    """Host, path and TLS of that Ingress."""
    resources: dict[str, str] | None = None
    """Ray logical resources; override num-cpus/memory/num-gpus/resources in rayStartParams."""
    labels: dict[str, str] | None = None
    """Ray node labels, also merged into the pod labels."""
    ray_start_params: dict[str, str] | None = None
    """Flags of `ray start` (key without --, value as string)."""
    service_type: str | None = None
    """Type of the head (and serve) Service; headless ClusterIP when empty."""


class WorkerGroupSpec(ApiModel):
    """One group of worker pods."""

    model_config = {
        "json_schema_extra": _cel(
            {
                "rule": "!has(self.minReplicas) || self.minReplicas >= 0",
                "message": "worker group has negative minReplicas",
            },
            {
                "rule": "!has(self.maxReplicas) || self.maxReplicas >= 0",
                "message": "worker group has negative maxReplicas",
            },
            {
                "rule": "!has(self.minReplicas) || !has(self.maxReplicas) || "
                "self.minReplicas <= self.maxReplicas",
                "message": "worker group has minReplicas greater than maxReplicas",
            },
            {
                "rule": "!has(self.idleTimeoutSeconds) || self.idleTimeoutSeconds >= 0",
                "message": "worker group idleTimeoutSeconds must be non-negative",
            },
            {
                "rule": _RESOURCE_CONFLICT_RULE,
                "message": "resource fields should not be set in both rayStartParams and Resources for a worker "
                "group; please use only one",
            },
            {
                "rule": _LABELS_PARAM_RULE,
                "message": "rayStartParams['labels'] is not supported for a worker group; please use the "
                "top-level Labels field instead",
            },
        )
    }

    suspend: bool | None = None
    """Delete all pods of this group (used by RayJob deletion rules; not with autoscaling)."""
    group_name: str
    """Unique name of the group, label ray.io/group."""
    replicas: Int32 | None = 0
    """Desired replicas, clamped into [minReplicas, maxReplicas]; the autoscaler writes it."""
    min_replicas: Int32 | None = 0
    """Lower bound of replicas."""
    max_replicas: Int32 | None = MAX_INT32
    """Upper bound of replicas."""
    idle_timeout_seconds: Int32 | None = None
    """Autoscaler v2 idle timeout for this group."""
    priority: Int32 | None = 0
    """Autoscaler v2 scale-up preference (Ray >= 2.56.0)."""
    resources: dict[str, str] | None = None
    """Ray logical resources; override num-cpus/memory/num-gpus/resources in rayStartParams."""
    labels: dict[str, str] | None = None
    """Ray node labels, also merged into the pod labels."""
    ray_start_params: dict[str, str] | None = None
    """Flags of `ray start` (key without --, value as string)."""
    template: PodTemplateSpec
    """Worker pod template; container 0 is the Ray container."""
    scale_strategy: ScaleStrategy | None = None
    """Specific pods to remove."""
    num_of_hosts: Int32 | None = 1
    """Pods per replica (multi-host TPU slices)."""

    def effective_num_of_hosts(self) -> int:
        """KubeRay treats numOfHosts <= 0 (or unset) as 1."""
        return self.num_of_hosts if self.num_of_hosts and self.num_of_hosts > 0 else 1


class AutoscalerOptions(ApiModel):
    """Overrides for the autoscaler sidecar."""

    model_config = {
        "json_schema_extra": _cel(
            {
                "rule": "!has(self.idleTimeoutSeconds) || self.idleTimeoutSeconds >= 0",
                "message": "autoscalerOptions.idleTimeoutSeconds must be non-negative",
            },
            (
                "!has(self.env) || !self.env.exists(e, e.name == 'KUBERAY_GEN_AUTOSCALER_START_CMD')",
                "autoscalerOptions.env must not contain KUBERAY_GEN_AUTOSCALER_START_CMD: "
                "it is managed by KubeRay and injected automatically into the autoscaler container",
            ),
        )
    }

    resources: ResourceRequirements | None = None
    """Replaces the sidecar resources (default 500m CPU / 512Mi, requests = limits)."""
    image: str | None = None
    """Sidecar image (default: the head Ray container image)."""
    image_pull_policy: str | None = None
    """Sidecar pull policy (default IfNotPresent)."""
    security_context: SecurityContext | None = None
    """Security context of the sidecar."""
    idle_timeout_seconds: Int32 | None = None
    """Seconds before an idle worker is removed (read by the autoscaler, default 60)."""
    upscaling_mode: Literal["Default", "Aggressive", "Conservative"] | None = None
    """Upscaling speed (read by the autoscaler)."""
    version: Literal["v1", "v2"] | None = None
    """Autoscaler version; sets RAY_enable_autoscaler_v2 on the head."""
    env: EnvVarList | None = None
    """Extra environment variables of the sidecar."""
    env_from: EnvFromSourceList | None = None
    """Extra environment sources of the sidecar."""
    volume_mounts: VolumeMountList | None = None
    """Extra volume mounts of the sidecar."""
    command: list[str] | None = None
    """Replaces the sidecar command."""
    args: list[str] | None = None
    """Replaces the sidecar args."""


# ----------------------------------------------------------------------------------------------------
# Spec and status
# ----------------------------------------------------------------------------------------------------


class RayClusterSpec(ApiModel):
    """Desired state of a Ray cluster."""

    upgrade_strategy: RayClusterUpgradeStrategy | None = None
    """How pods are replaced on spec changes."""
    auth_options: AuthOptions | None = None
    """Ray token authentication."""
    suspend: bool | None = None
    """Delete all pods while true (atomically)."""
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
    """Controller in charge; any value but ray.io/kuberay-operator makes the operator skip the object."""
    autoscaler_options: AutoscalerOptions | None = None
    """Overrides for the autoscaler sidecar."""
    head_service_annotations: dict[str, str] | None = None
    """Annotations of the head Service (win over headService.metadata.annotations)."""
    enable_in_tree_autoscaling: bool | None = None
    """Inject the autoscaler sidecar and its RBAC."""
    gcs_fault_tolerance_options: GcsFaultToleranceOptions | None = None
    """GCS fault tolerance (external Redis)."""
    history_server_options: HistoryServerOptions | None = None
    """History server collector (alpha, unsupported)."""
    network_policy: NetworkPolicyConfig | None = None
    """Network isolation (alpha, unsupported)."""
    tls_options: TLSOptions | None = None
    """Operator-managed mTLS (alpha, unsupported)."""
    head_group_spec: HeadGroupSpec
    """Head pod: template, Service, Ingress and `ray start` parameters."""
    ray_version: str | None = None
    """Ray version of the images; selects probe style, auth support and similar switches."""
    worker_group_specs: list[WorkerGroupSpec] | None = None
    """The worker groups."""

    def is_autoscaling_enabled(self) -> bool:
        """enableInTreeAutoscaling is true."""
        return bool(self.enable_in_tree_autoscaling)

    def autoscaler_version(self) -> str | None:
        """The explicitly requested autoscaler version (KubeRay never infers it)."""
        return self.autoscaler_options.version if self.autoscaler_options else None


class RayCluster(CustomResource):
    """A Ray cluster: one head pod and groups of worker pods."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        group="ray.io",
        kind="RayCluster",
        plural="rayclusters",
        singular="raycluster",
        versions=("v1", "v1alpha1"),
        storage_version="v1",
        printer_columns=(
            PrinterColumn("desired workers", ".status.desiredWorkerReplicas", "integer"),
            PrinterColumn("available workers", ".status.availableWorkerReplicas", "integer"),
            PrinterColumn("cpus", ".status.desiredCPU"),
            PrinterColumn("memory", ".status.desiredMemory"),
            PrinterColumn("gpus", ".status.desiredGPU"),
            PrinterColumn("tpus", ".status.desiredTPU", priority=1),
            PrinterColumn("status", ".status.state"),
            PrinterColumn("age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("head pod IP", ".status.head.podIP", priority=1),
            PrinterColumn("head service IP", ".status.head.serviceIP", priority=1),
        ),
    )

    api_version: str = "ray.io/v1"
    """API version of the object."""
    kind: str = "RayCluster"
    """Kind of the object."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Standard object metadata."""
    spec: RayClusterSpec
    """Desired state."""
    status: RayClusterStatus | None = None
    """Observed state."""


__all__ = [
    "MAX_INT32", "AuthOptions", "AutoscalerOptions", "CollectorOptions", "Condition", "GcsEmbeddedStorage",
    "GcsFaultToleranceOptions", "HeadGroupSpec", "HeadInfo", "HistoryServerOptions", "IngressOptions",
    "NetworkPolicyConfig", "NetworkPolicyRules", "RayCluster", "RayClusterSpec", "RayClusterStatus",
    "RayClusterUpgradeStrategy", "RedisCredential", "ScaleStrategy", "TLSOptions", "WorkerGroupNetworkPolicyRules",
    "WorkerGroupSpec",
]
