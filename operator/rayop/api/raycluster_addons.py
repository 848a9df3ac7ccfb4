"""Option blocks of the RayCluster spec: upgrade strategy, auth, GCS fault tolerance and the alpha add-ons."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rayop.api.base import ApiModel
from rayop.api.types import (
    EnvVarList,
    EnvVarSource,
    IngressTLSList,
    NetworkPolicyEgressRuleList,
    NetworkPolicyIngressRuleList,
    Quantity,
    ResourceRequirements,
)
from rayop.api.types import cel as _cel


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
