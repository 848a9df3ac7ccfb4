"""GCS fault tolerance wiring of Ray pods (Redis backend), as KubeRay's ``configureGCSFaultTolerance``.

FT is on when the legacy ``ray.io/ft-enabled: "true"`` annotation is set or ``gcsFaultToleranceOptions`` is
present.  The head learns where Redis is and which key namespace is its own; workers get a long GCS reconnect
timeout so they survive a head restart.  The embedded RocksDB backend is alpha in KubeRay and unsupported
here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.operator.builders.env import has_env

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster

RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S = "RAY_gcs_rpc_server_reconnect_timeout_s"
DEFAULT_WORKER_GCS_RECONNECT_TIMEOUT_S = "600"
RAY_EXTERNAL_STORAGE_NS = "RAY_external_storage_namespace"
RAY_REDIS_ADDRESS = "RAY_REDIS_ADDRESS"
REDIS_USERNAME = "REDIS_USERNAME"
REDIS_PASSWORD = "REDIS_PASSWORD"


def is_gcs_ft_enabled(cluster: RayCluster) -> bool:
    """KubeRay's ``IsGCSFaultToleranceEnabled``."""
    annotation = cluster.annotations.get(L.FT_ENABLED, "")
    return annotation.lower() == "true" or cluster.spec.gcs_fault_tolerance_options is not None


def external_storage_namespace(cluster: RayCluster) -> str:
    """Cluster UID, overridden by the legacy annotation, overridden by ``externalStorageNamespace``."""
    namespace = cluster.uid
    if L.EXTERNAL_STORAGE_NAMESPACE in cluster.annotations:
        namespace = cluster.annotations[L.EXTERNAL_STORAGE_NAMESPACE]
    options = cluster.spec.gcs_fault_tolerance_options
    if options is not None and options.external_storage_namespace:
        namespace = options.external_storage_namespace
    return namespace


def _credential_env(name: str, value: str | None, value_from: dict[str, Any] | None) -> dict[str, Any]:
    env: dict[str, Any] = {"name": name}
    if value:
        env["value"] = value
    if value_from is not None:
        env["valueFrom"] = value_from
    return env


def configure_head(
    cluster: RayCluster, annotations: dict[str, str], container: dict[str, Any], params: dict[str, str]
) -> None:
    """Head pod: ``ray.io/ft-enabled`` annotation always; with FT the storage namespace and Redis settings.

    ``params`` (the head's rayStartParams) gains ``redis-username``/``redis-password`` references to the env
    vars, exactly as KubeRay edits the head group's start params.
    """
    enabled = is_gcs_ft_enabled(cluster)
    annotations[L.FT_ENABLED] = "true" if enabled else "false"
    if not enabled:
        return
    options = cluster.spec.gcs_fault_tolerance_options
    env = container.setdefault("env", [])
    storage_ns = external_storage_namespace(cluster)
    annotations[L.EXTERNAL_STORAGE_NAMESPACE] = storage_ns
    if not has_env(container, RAY_EXTERNAL_STORAGE_NS):
        env.append({"name": RAY_EXTERNAL_STORAGE_NS, "value": storage_ns})
    if options is not None:
        env.append({"name": RAY_REDIS_ADDRESS, "value": options.redis_address or ""})
        if options.redis_username is not None:
            params["redis-username"] = "$REDIS_USERNAME"
            cred = options.redis_username
            env.append(_credential_env(REDIS_USERNAME, cred.value, cred.value_from))
        if options.redis_password is not None:
            params["redis-password"] = "$REDIS_PASSWORD"
            cred = options.redis_password
            env.append(_credential_env(REDIS_PASSWORD, cred.value, cred.value_from))
    elif not has_env(container, REDIS_PASSWORD) and "redis-password" in params:
        # Legacy path: the Redis cleanup job needs the literal password the user put in rayStartParams.
        env.append({"name": REDIS_PASSWORD, "value": params["redis-password"]})


def configure_worker(cluster: RayCluster, container: dict[str, Any]) -> None:
    """Workers wait up to 600 s for a restarted GCS instead of Ray's 60 s default."""
    if is_gcs_ft_enabled(cluster) and not has_env(container, RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S):
        container.setdefault("env", []).append(
            {"name": RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S, "value": DEFAULT_WORKER_GCS_RECONNECT_TIMEOUT_S}
        )
