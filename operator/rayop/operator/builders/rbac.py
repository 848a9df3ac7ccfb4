"""ServiceAccount, Role and RoleBinding that let the autoscaler sidecar read pods and patch its RayCluster.

Same names and rules as KubeRay (``common/rbac.go``): the autoscaler scales by patching ``replicas`` and
``workersToDelete`` and never creates pods itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.operator.builders import DEFAULT_OPTIONS, BuildOptions, names

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster

AUTOSCALER_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
    {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
    # rayop's autoscaler explains each decision with an event on the RayCluster (beyond KubeRay's Role).
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
]


def _labels(cluster: RayCluster) -> dict[str, str]:
    return {
        L.RAY_CLUSTER: cluster.name,
        L.K8S_APP_NAME: L.APPLICATION_NAME,
        L.K8S_CREATED_BY: L.COMPONENT_NAME,
    }


def user_named_service_account(cluster: RayCluster) -> bool:
    """The head template names its own ServiceAccount: the user must create it (the operator only warns)."""
    return bool((cluster.spec.head_group_spec.template.get("spec") or {}).get("serviceAccountName"))


def build_autoscaler_service_account(cluster: RayCluster) -> dict[str, Any]:
    """The autoscaler's ServiceAccount (created only when missing)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": names.autoscaler_service_account_name(cluster),
            "namespace": cluster.namespace,
            "labels": _labels(cluster),
        },
    }


def build_autoscaler_role(cluster: RayCluster) -> dict[str, Any]:
    """Role ``CheckName(<cluster>)``: pods get/list/watch/patch, pods/resize patch, rayclusters get/patch."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {
            "name": names.autoscaler_role_name(cluster),
            "namespace": cluster.namespace,
            "labels": _labels(cluster),
        },
        "rules": [dict(rule) for rule in AUTOSCALER_RULES],
    }


def build_autoscaler_role_binding(cluster: RayCluster) -> dict[str, Any]:
    """RoleBinding ``CheckName(<cluster>)`` of that Role to the autoscaler's ServiceAccount."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": names.autoscaler_role_name(cluster),
            "namespace": cluster.namespace,
            "labels": _labels(cluster),
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": names.autoscaler_role_name(cluster),
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": names.autoscaler_service_account_name(cluster),
                "namespace": cluster.namespace,
            }
        ],
    }


def build_autoscaler_rbac(
    cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS
) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding, in the order KubeRay reconciles them."""
    del options
    return [
        build_autoscaler_service_account(cluster),
        build_autoscaler_role(cluster),
        build_autoscaler_role_binding(cluster),
    ]
