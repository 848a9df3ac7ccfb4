"""What a RayCluster owns, as pure functions: the reconciler acts on these lists and the golden tests snapshot them,
so the snapshots show exactly what the operator creates (no second copy of the rules).

Order as KubeRay reconciles them: autoscaler RBAC (ServiceAccount unless the head names its own, Role,
RoleBinding), Ingress, auth Secret, head Service, headless worker Service, serve Service; then the pods of
:func:`rayop.operator.raycluster.pods_plan.plan_pods`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rayop.api import labels as L
from rayop.api.raycluster import RayCluster
from rayop.kube.informers import Resource
from rayop.operator.builders import BuildError, BuildOptions, auth, ingress, names, rbac, service
from rayop.operator.builders.pod import build_head_pod, build_worker_pod
from rayop.operator.runtime.children import Child
from rayop.operator.runtime.controller import Watch, owner_by_label, owner_by_reference

from .observed import slim_pod
from .pods_plan import CreatePod, plan_pods

POD_SELECTOR = f"{L.RAY_NODE_TYPE} in (head,worker,redis-cleanup)"
PODS = Watch(Resource("v1", "pods", POD_SELECTOR, transform=slim_pod), owner_by_label(L.RAY_CLUSTER),
             index_labels=(L.RAY_CLUSTER,))
#: Head Services carry ``app.kubernetes.io/created-by``; every cluster has one, so this watch is always open.
SERVICES = Watch(Resource("v1", "services", f"{L.K8S_CREATED_BY}={L.COMPONENT_NAME}"), owner_by_label(L.RAY_CLUSTER))
_BY_OWNER = owner_by_reference("RayCluster")
#: Children only some clusters have: their watches open when the first such cluster is reconciled.
HEADLESS_SERVICES = Watch(Resource("v1", "services", L.RAY_HEADLESS_WORKER_SVC), _BY_OWNER)
SERVE_SERVICES = Watch(Resource("v1", "services", L.RAY_SERVE), _BY_OWNER)
SERVICE_ACCOUNTS = Watch(Resource("v1", "serviceaccounts", L.RAY_CLUSTER), _BY_OWNER)
ROLES = Watch(Resource("rbac.authorization.k8s.io/v1", "roles", L.RAY_CLUSTER), _BY_OWNER)
ROLE_BINDINGS = Watch(Resource("rbac.authorization.k8s.io/v1", "rolebindings", L.RAY_CLUSTER), _BY_OWNER)
INGRESSES = Watch(Resource("networking.k8s.io/v1", "ingresses", L.RAY_CLUSTER), _BY_OWNER)
SECRETS = Watch(Resource("v1", "secrets", L.RAY_CLUSTER), _BY_OWNER)


@dataclass(frozen=True)
class DesiredChild:
    """A child and the watch whose cache shows whether it exists."""

    child: Child
    watch: Watch


@dataclass
class DesiredChildren:
    children: list[DesiredChild] = field(default_factory=list)
    #: Spec problems found while building (e.g. a serve Service without a serve port): reported, not raised.
    errors: list[str] = field(default_factory=list)


def _child(obj: dict[str, Any], kind: str, watch: Watch) -> DesiredChild:
    return DesiredChild(Child(obj, f"Created{kind}", f"FailedToCreate{kind}", owner_label=L.RAY_CLUSTER), watch)


def desired_children(cluster: RayCluster, options: BuildOptions, *, auth_token: Callable[[], str]) -> DesiredChildren:
    """Every non-pod child ``cluster`` should have; ``auth_token`` is called only when a Secret is wanted."""
    out = DesiredChildren()
    if cluster.spec.is_autoscaling_enabled():
        if not rbac.user_named_service_account(cluster):
            out.children.append(_child(rbac.build_autoscaler_service_account(cluster), "ServiceAccount",
                                       SERVICE_ACCOUNTS))
        out.children.append(_child(rbac.build_autoscaler_role(cluster), "Role", ROLES))
        out.children.append(_child(rbac.build_autoscaler_role_binding(cluster), "RoleBinding", ROLE_BINDINGS))
    if ingress.is_ingress_enabled(cluster):
        out.children.append(_child(ingress.build_ingress(cluster, options), "Ingress", INGRESSES))
    if auth.needs_auth_secret(cluster):
        out.children.append(_child(auth.build_auth_secret(cluster, auth_token()), "Secret", SECRETS))
    out.children.append(_child(service.build_head_service(cluster, options), "Service", SERVICES))
    if service.needs_headless_worker_service(cluster):
        out.children.append(_child(service.build_headless_worker_service(cluster, options), "Service",
                                   HEADLESS_SERVICES))
    if service.is_serve_service_enabled(cluster):
        try:
            out.children.append(_child(service.build_serve_service(cluster, options), "Service", SERVE_SERVICES))
        except BuildError as exc:
            out.errors.append(str(exc))
    return out


def build_pod(cluster: RayCluster, options: BuildOptions, create: CreatePod, name: str,
              replica_name: str | None) -> dict[str, Any]:
    """The pod for one planned create (``replica_name`` names a multi-host replica, shared by its hosts)."""
    if create.node_type == L.NODE_TYPE_HEAD:
        return build_head_pod(cluster, options, name=name)
    group = next(g for g in cluster.spec.worker_group_specs or [] if g.group_name == create.group)
    if create.replica_key is not None:
        return build_worker_pod(cluster, group, options, name=name, replica_index=create.replica_index or 0,
                                replica_name=replica_name or "", host_index=create.host_index or 0)
    return build_worker_pod(cluster, group, options, name=name)


def pod_name(cluster: RayCluster, create: CreatePod, suffix: str) -> str:
    if create.node_type == L.NODE_TYPE_HEAD:
        return names.head_pod_name(cluster, suffix)
    return names.worker_pod_name(cluster, create.group, suffix)


def fresh_cluster_pods(cluster: RayCluster, options: BuildOptions, *, suffix: Callable[[CreatePod, int], str],
                       replica_suffix: Callable[[CreatePod], str]) -> list[dict[str, Any]]:
    """The pods the first pass over a new cluster creates (with an unbounded budget), named by the callbacks
    (random in the operator, deterministic in snapshots)."""
    plan = plan_pods(cluster, [], spec_hash="", suspending=False, suspended=False, provisioned=False,
                     max_creates=10**9, operator_version=options.operator_version)
    replicas = {c.replica_key: names.multihost_replica_name(c.group, replica_suffix(c))
                for c in plan.creates if c.replica_key is not None}
    return [build_pod(cluster, options, c, pod_name(cluster, c, suffix(c, i)),
                      replicas.get(c.replica_key) if c.replica_key else None)
            for i, c in enumerate(plan.creates)]
