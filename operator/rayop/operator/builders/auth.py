"""Ray token authentication: the token Secret and the env vars / volume every Ray process needs.

KubeRay stores a random token in a Secret named after the cluster (key ``auth_token``) and points
``RAY_AUTH_TOKEN`` at it from the Ray containers, ``wait-gcs-ready`` and the autoscaler.  With K8s token auth
Ray validates projected ServiceAccount tokens instead, so no Secret is created.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.operator.builders import names
from rayop.operator.builders.env import has_env

if TYPE_CHECKING:
    from rayop.api.raycluster import AuthOptions, RayCluster

AUTH_TOKEN_KEY = "auth_token"
RAY_AUTH_MODE = "RAY_AUTH_MODE"
RAY_AUTH_TOKEN = "RAY_AUTH_TOKEN"
RAY_ENABLE_K8S_TOKEN_AUTH = "RAY_ENABLE_K8S_TOKEN_AUTH"
RAY_TOKEN_VOLUME = "ray-token"
RAY_TOKEN_MOUNT_PATH = "/var/run/secrets/ray.io/serviceaccount"


def is_auth_enabled(cluster: RayCluster) -> bool:
    """KubeRay's ``IsAuthEnabled``: ``authOptions.mode`` is ``token``."""
    options = cluster.spec.auth_options
    return options is not None and options.mode == "token"


def is_k8s_auth_enabled(options: AuthOptions | None) -> bool:
    """``authOptions.enableK8sTokenAuth`` is true."""
    return options is not None and bool(options.enable_k8s_token_auth)


def needs_auth_secret(cluster: RayCluster) -> bool:
    """Whether the operator must create the token Secret.

    KubeRay creates it whenever ``authOptions`` is present and the mode is not ``disabled`` (an empty mode
    still gets a Secret), unless the user brings ``secretName`` or K8s token auth is on.
    """
    options = cluster.spec.auth_options
    if options is None or options.mode == "disabled":
        return False
    return not options.secret_name and not is_k8s_auth_enabled(options)


def new_auth_token() -> str:
    """A fresh token in KubeRay's format: base64 of 32 random bytes (the one impure helper here)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def build_auth_secret(cluster: RayCluster, token: str) -> dict[str, Any]:
    """The Secret ``CheckName(<cluster>)`` with key ``auth_token``; the caller supplies the token."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.check_name(cluster.name),
            "namespace": cluster.namespace,
            "labels": {L.RAY_CLUSTER: cluster.name},
        },
        "type": "Opaque",
        "data": {AUTH_TOKEN_KEY: base64.b64encode(token.encode()).decode()},
    }


def add_token_auth_env(cluster: RayCluster, container: dict[str, Any]) -> None:
    """KubeRay's ``SetContainerTokenAuthEnvVars``: auth mode, then the token reference or K8s token auth."""
    options = cluster.spec.auth_options
    env = container.setdefault("env", [])
    if not has_env(container, RAY_AUTH_MODE):
        env.append({"name": RAY_AUTH_MODE, "value": "token"})
    if is_k8s_auth_enabled(options):
        if not has_env(container, RAY_ENABLE_K8S_TOKEN_AUTH):
            env.append({"name": RAY_ENABLE_K8S_TOKEN_AUTH, "value": "true"})
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("name") == RAY_TOKEN_VOLUME for m in mounts):
            mounts.append({"name": RAY_TOKEN_VOLUME, "mountPath": RAY_TOKEN_MOUNT_PATH, "readOnly": True})
    elif not has_env(container, RAY_AUTH_TOKEN):
        env.append(
            {
                "name": RAY_AUTH_TOKEN,
                "valueFrom": {
                    "secretKeyRef": {"name": names.auth_secret_name(cluster), "key": AUTH_TOKEN_KEY}
                },
            }
        )


def add_token_volume(pod_spec: dict[str, Any]) -> None:
    """The projected ServiceAccount token volume used by K8s token auth (added once)."""
    volumes = pod_spec.setdefault("volumes", [])
    if any(v.get("name") == RAY_TOKEN_VOLUME for v in volumes):
        return
    volumes.append(
        {
            "name": RAY_TOKEN_VOLUME,
            "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
        }
    )
