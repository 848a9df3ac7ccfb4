"""The RayCluster custom resource (``ray.io/v1``), field-complete with KubeRay v1.

These models are the single source of truth for the RayCluster CRD: the operator parses ``spec`` into them
and the CRD generator turns them into ``crds/``.  Field names, enums, defaults and CEL rules follow KubeRay so
that every manifest written for KubeRay is accepted unchanged (see ``shared/reference/kuberay.md`` 1.1, 1.2).

CEL rules are only used where KubeRay's own controller-side check can be stated exactly at admission time; the
full set of KubeRay's checks (with its messages) lives in :mod:`rayop.operator.validation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, WithJsonSchema

from rayop.api.base import ApiModel, CrdInfo, CustomResource, PrinterColumn, k8s_type

#: Largest int32, KubeRay's default for ``maxReplicas``.
MAX_INT32 = 2_147_483_647

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

Int32 = Annotated[int, Field(json_schema_extra={"format": "int32"})]
Int64 = Annotated[int, Field(json_schema_extra={"format": "int64"})]
#: A Kubernetes resource.Quantity: an integer or a string such as ``"500m"`` / ``"1Gi"``.
Quantity = Annotated[
    int | str,
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",  # noqa: E501
            "x-kubernetes-int-or-string": True,
        }
    ),
]
# Embedded Kubernetes types: plain dicts at runtime, their structural schema in the CRD (see rayop.api.base).
if TYPE_CHECKING:
    EnvVarSource = dict[str, Any]
    ResourceRequirements = dict[str, Any]
    EnvVarList = list[dict[str, Any]]
    NetworkPolicyIngressRuleList = list[dict[str, Any]]
    NetworkPolicyEgressRuleList = list[dict[str, Any]]
    IngressTLSList = list[dict[str, Any]]
    PodTemplateSpec = dict[str, Any]
    Service = dict[str, Any]
    SecurityContext = dict[str, Any]
    EnvFromSourceList = list[dict[str, Any]]
    VolumeMountList = list[dict[str, Any]]
else:
    EnvVarSource = k8s_type("io.k8s.api.core.v1.EnvVarSource")
    ResourceRequirements = k8s_type("io.k8s.api.core.v1.ResourceRequirements")
    EnvVarList = k8s_type("io.k8s.api.core.v1.EnvVar", list_of=True)
    NetworkPolicyIngressRuleList = k8s_type("io.k8s.api.networking.v1.NetworkPolicyIngressRule", list_of=True)
    NetworkPolicyEgressRuleList = k8s_type("io.k8s.api.networking.v1.NetworkPolicyEgressRule", list_of=True)
    IngressTLSList = k8s_type("io.k8s.api.networking.v1.IngressTLS", list_of=True)
    PodTemplateSpec = k8s_type("io.k8s.api.core.v1.PodTemplateSpec")
    Service = k8s_type("io.k8s.api.core.v1.Service")
    SecurityContext = k8s_type("io.k8s.api.core.v1.SecurityContext")
    EnvFromSourceList = k8s_type("io.k8s.api.core.v1.EnvFromSource", list_of=True)
    VolumeMountList = k8s_type("io.k8s.api.core.v1.VolumeMount", list_of=True)
DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


def _cel(*rules: tuple[str, str] | dict[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules; a tuple is ``(rule, message)``, a dict is used verbatim."""
    out = [r if isinstance(r, dict) else {"rule": r[0], "message": r[1]} for r in rules]
    return {"x-kubernetes-validations": out}


# ----------------------------------------------------------------------------------------------------
# Small option types
# ----------------------------------------------------------------------------------------------------


class RayClusterUpgradeStrategy(ApiModel):
    """How pods are replaced when the cluster spec changes."""

    type: Literal["Recreate", "None"] | None = None
    """Recreate deletes all pods when the spec hash changes; None (default) never replaces running pods."""


class AuthOptions(ApiModel):
    """Ray token authentication."""

    enable_k8s_token_auth: bool | None = Field(default=None, alias="enableK8sTokenAuth")
    """Delegate token checks to the Kubernetes API server (needs mode token and Ray >= 2.55.0)."""
    secret_name: str | None = None
    """Existing Secret holding key auth_token; when set no token Secret is generated."""
    mode: Literal["disabled", "token"] | None = None
    """Authentication mode: disabled or token (token needs Ray >= 2.52.0)."""


class RedisCredential(ApiModel):
    """A Redis username or password, literal or from a Secret/ConfigMap reference."""

    value_from: EnvVarSource | None = None
    """Source of the value (e.g. a secretKeyRef), as in a container env var."""
    value: str | None = None
    """Literal value (prefer valueFrom for passwords)."""


class GcsEmbeddedStorage(ApiModel):
    """Persistent volume backing the embedded RocksDB GCS store (alpha, unsupported by rayop)."""

    claim_name: str | None = None
    """Existing user-owned PVC to use; exclusive with size, storageClassName and accessModes."""
    size: Quantity | None = None
    """Size of the operator-managed PVC (default 1Gi)."""
    storage_class_name: str | None = None
    """StorageClass of the operator-managed PVC (cluster default when omitted)."""
    access_modes: list[str] | None = None
    """Access modes of the operator-managed PVC (default [ReadWriteOnce])."""
    sub_path: str | None = None
    """Mount this subdirectory of the volume instead of its root."""
    deletion_policy: Literal["DeleteWithCluster", "Retain"] | None = None
    """Delete the operator-managed PVC with the cluster (DeleteWithCluster, default) or keep it (Retain)."""


class GcsFaultToleranceOptions(ApiModel):
    """GCS fault tolerance; its presence alone enables it."""

    backend: Literal["redis", "rocksdb"] | None = Field(
        default=None,
        json_schema_extra=_cel(("self == oldSelf", "gcsFaultToleranceOptions.backend is immutable")),
    )
    """Persistence backend: redis (default) or rocksdb (alpha); immutable."""
    redis_username: RedisCredential | None = None
    """Redis username, exported to the head as REDIS_USERNAME."""
    redis_password: RedisCredential | None = None
    """Redis password, exported to the head as REDIS_PASSWORD."""
    external_storage_namespace: str | None = None
    """Redis key namespace for this cluster's GCS data (defaults to the RayCluster UID)."""
    redis_address: str | None = None
    """Address of the external Redis (host:port, optionally redis:// or rediss://)."""
    storage: GcsEmbeddedStorage | None = None
    """Volume for the rocksdb backend; invalid with redis."""


class CollectorOptions(ApiModel):
    """History-server collector sidecar (alpha, unsupported by rayop)."""

    image: str | None = None
    """Collector image (required when history server options are set)."""
    image_pull_policy: str | None = None
    """Pull policy of the collector image (default IfNotPresent)."""
    resources: ResourceRequirements | None = None
    """Collector resources (default requests 50m/64Mi, limits 200m/256Mi)."""
    env: EnvVarList | None = None
    """Collector environment; must set STORAGE_BACKEND and its backend variables."""


class HistoryServerOptions(ApiModel):
    """History server integration (alpha, unsupported by rayop)."""

    collector_options: CollectorOptions | None = None
    """Collector sidecar injected into every Ray pod."""


class NetworkPolicyRules(ApiModel):
    """Extra NetworkPolicy rules appended to the base intra-cluster rules."""

    ingress_rules: NetworkPolicyIngressRuleList | None = None
    """Ingress rules, only meaningful when the mode denies ingress."""
    egress_rules: NetworkPolicyEgressRuleList | None = None
    """Egress rules, only meaningful when the mode denies egress (add DNS here)."""


class WorkerGroupNetworkPolicyRules(NetworkPolicyRules):
    """NetworkPolicy rules for one worker group, replacing the generic worker rules."""

    group_name: str
    """Worker group the rules apply to."""


class NetworkPolicyConfig(ApiModel):
    """Network isolation for the cluster's pods (alpha, unsupported by rayop)."""

    mode: Literal["DenyAll", "DenyAllIngress", "DenyAllEgress"] | None = "DenyAll"
    """Which directions are denied by default; intra-cluster traffic is always allowed."""
    head: NetworkPolicyRules | None = None
    """Extra rules for the head pod's policy."""
    worker: NetworkPolicyRules | None = None
    """Extra rules for every worker group without its own entry."""
    worker_groups: list[WorkerGroupNetworkPolicyRules] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["groupName"]},
    )
    """Per-worker-group rules keyed by groupName."""


class TLSOptions(ApiModel):
    """Operator-managed mTLS between Ray processes (alpha, unsupported by rayop)."""

    enabled: bool | None = None
    """Enable mTLS with cert-manager issued certificates."""


class IngressOptions(ApiModel):
    """Host, path and TLS of the dashboard Ingress created when enableIngress is true."""

    host: str | None = None
    """Rule host; any host when unset."""
    path: str | None = None
    """HTTP path routed to the dashboard (default /)."""
    path_type: Literal["Exact", "Prefix", "ImplementationSpecific"] | None = None
    """Path matching mode (default Prefix)."""
    tls: IngressTLSList | None = None
    """TLS entries copied to the Ingress."""


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


class Condition(ApiModel):
    """A metav1.Condition."""

    type: str
    """Condition type, e.g. HeadPodReady."""
    status: Literal["True", "False", "Unknown"]
    """Condition status."""
    reason: str
    """CamelCase reason of the last transition."""
    message: str = ""
    """Human-readable details."""
    last_transition_time: DateTime
    """When the status last changed."""
    observed_generation: Int64 | None = None
    """metadata.generation the condition was computed from."""


class HeadInfo(ApiModel):
    """Addresses of the head pod and Service."""

    pod_ip: str | None = Field(default=None, alias="podIP")
    """Head pod IP."""
    pod_name: str | None = None
    """Head pod name."""
    service_ip: str | None = Field(default=None, alias="serviceIP")
    """Head Service ClusterIP, or the head pod IP when the Service is headless."""
    service_name: str | None = None
    """Head Service name."""


class RayClusterStatus(ApiModel):
    """Observed state of a Ray cluster."""

    state: Literal["ready", "failed", "suspended"] | None = None
    """Deprecated overall state; use conditions."""
    desired_cpu: Quantity | None = Field(default=None, alias="desiredCPU")
    """Total desired CPUs of head and workers."""
    desired_memory: Quantity | None = None
    """Total desired memory of head and workers."""
    desired_gpu: Quantity | None = Field(default=None, alias="desiredGPU")
    """Total desired GPUs of head and workers."""
    desired_tpu: Quantity | None = Field(default=None, alias="desiredTPU")
    """Total desired TPUs of head and workers."""
    last_update_time: DateTime | None = None
    """When the status was last computed."""
    state_transition_times: dict[str, DateTime] | None = None
    """Time of the last transition into each state."""
    endpoints: dict[str, str] | None = None
    """Head Service port name to NodePort or target port."""
    head: HeadInfo | None = None
    """Head pod and Service addresses."""
    reason: str | None = None
    """Details about the current state."""
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Latest observations (HeadPodReady, RayClusterProvisioned, ReplicaFailure, Suspending, Suspended)."""
    ready_worker_replicas: Int32 | None = None
    """Worker pods Running and Ready."""
    available_worker_replicas: Int32 | None = None
    """Worker pods Running."""
    desired_worker_replicas: Int32 | None = None
    """Sum of clamp(replicas) * numOfHosts over non-suspended groups."""
    min_worker_replicas: Int32 | None = None
    """Sum of minReplicas * numOfHosts over non-suspended groups."""
    max_worker_replicas: Int32 | None = None
    """Sum of maxReplicas * numOfHosts over non-suspended groups (saturated at int32)."""
    observed_generation: Int64 | None = None
    """metadata.generation this status was computed from."""


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

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> RayCluster:
        """Parse a RayCluster as read from the API server; raises pydantic.ValidationError on bad input."""
        return cls.model_validate(obj)

    @property
    def name(self) -> str:
        """metadata.name."""
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        """metadata.namespace ("default" when unset, like KubeRay's GetNamespace)."""
        return str(self.metadata.get("namespace") or "default")

    @property
    def uid(self) -> str:
        """metadata.uid ("" before the object is stored)."""
        return str(self.metadata.get("uid") or "")

    @property
    def annotations(self) -> dict[str, str]:
        """metadata.annotations (empty dict when unset)."""
        return dict(self.metadata.get("annotations") or {})

    @property
    def labels(self) -> dict[str, str]:
        """metadata.labels (empty dict when unset)."""
        return dict(self.metadata.get("labels") or {})
