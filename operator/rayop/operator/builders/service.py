"""Head, serve and headless-worker Services, as KubeRay's ``common/service.go`` builds them.

The head Service is headless by default (``clusterIP: None`` with ``publishNotReadyAddresses``) so workers
can resolve the head before it is Ready; its ports mirror the head Ray container's ports (or KubeRay's five
defaults) with ``metrics`` always present.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.operator.builders import DEFAULT_OPTIONS, BuildError, BuildOptions, names

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster, RayClusterSpec

#: KubeRay's default head ports, used when the head Ray container declares none.
DEFAULT_HEAD_PORTS = {"client": 10001, "gcs-server": 6379, "dashboard": 8265, "metrics": 8080, "serve": 8000}
SERVE_PORT_ERROR = (
    "Please specify a port named 'serve' (or with the prefix 'serve-', e.g. 'serve-grpc') in the Ray head "
    "container; otherwise, the Kubernetes service for Ray Serve will not be created."
)


def head_service_labels(cluster: RayCluster) -> dict[str, str]:
    """Labels and selector of the head Service (five keys, as in KubeRay)."""
    template_labels = (cluster.spec.head_group_spec.template.get("metadata") or {}).get("labels") or {}
    return {
        L.RAY_CLUSTER: cluster.name,
        L.RAY_NODE_TYPE: L.NODE_TYPE_HEAD,
        L.RAY_IDENTIFIER: names.identifier(cluster.name, L.NODE_TYPE_HEAD),
        L.K8S_APP_NAME: template_labels.get(L.K8S_APP_NAME, L.APPLICATION_NAME),
        L.K8S_CREATED_BY: L.COMPONENT_NAME,
    }


def head_ports(spec: RayClusterSpec) -> dict[str, int]:
    """KubeRay's ``getServicePorts``: every head container port (unnamed ones as ``<port>-port``) or, when it
    declares none, the defaults; ``metrics`` always."""
    containers = (spec.head_group_spec.template.get("spec") or {}).get("containers") or [{}]
    ports: dict[str, int] = {}
    for port in containers[0].get("ports") or []:
        number = int(port["containerPort"])
        ports[port.get("name") or f"{number}-port"] = number
    if not ports:
        ports = dict(DEFAULT_HEAD_PORTS)
    ports.setdefault("metrics", DEFAULT_HEAD_PORTS["metrics"])
    return ports


def head_service_ports(cluster: RayCluster) -> list[dict[str, Any]]:
    """The head Service's ports (:func:`head_ports`), sorted by name."""
    ports = head_ports(cluster.spec)
    return [{"name": name, "port": ports[name], "appProtocol": "tcp"} for name in sorted(ports)]


def build_head_service(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """The head Service, merged into ``headGroupSpec.headService`` when the user provided one."""
    head = cluster.spec.head_group_spec
    labels = head_service_labels(cluster)
    annotations = dict(cluster.spec.head_service_annotations or {})
    ports = head_service_ports(cluster)
    service_type = head.service_type or ""
    if head.head_service is not None:
        return _merge_custom_head_service(cluster, labels, annotations, ports, service_type)
    spec: dict[str, Any] = {"selector": dict(labels), "ports": ports}
    if service_type:
        spec["type"] = service_type
    if service_type in ("", "ClusterIP") and not options.head_service_cluster_ip:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    metadata: dict[str, Any] = {
        "name": names.head_service_name(cluster),
        "namespace": cluster.namespace,
        "labels": labels,
    }
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def _merge_custom_head_service(
    cluster: RayCluster,
    labels: dict[str, str],
    annotations: dict[str, str],
    ports: list[dict[str, Any]],
    service_type: str,
) -> dict[str, Any]:
    """KubeRay's user-provided head Service path: the user's object wins except where the operator must.

    Selector is replaced, annotations merged (headServiceAnnotations win), default labels merged (defaults
    win), default ports appended (rayop skips a default whose name or number the user already uses, which
    KubeRay would turn into an invalid Service), name defaulted, namespace forced, type defaulted.
    """
    service = copy.deepcopy(cluster.spec.head_group_spec.head_service or {})
    service["apiVersion"], service["kind"] = "v1", "Service"
    meta = service.setdefault("metadata", {})
    spec = service.setdefault("spec", {})
    spec["selector"] = dict(labels)
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["name"] = meta.get("name") or names.head_service_name(cluster)
    meta["namespace"] = cluster.namespace
    user_ports = spec.setdefault("ports", [])
    taken_names = {p.get("name") for p in user_ports}
    taken_numbers = {p.get("port") for p in user_ports}
    user_ports.extend(p for p in ports if p["name"] not in taken_names and p["port"] not in taken_numbers)
    if not spec.get("type") and service_type:
        spec["type"] = service_type
    if not user_ports:
        raise BuildError("Ray head service should have at least one port")
    return service


def is_serve_service_enabled(cluster: RayCluster) -> bool:
    """Annotation ``ray.io/enable-serve-service: "true"`` on the RayCluster."""
    return cluster.annotations.get(L.ENABLE_SERVE_SERVICE, "") == "true"


def serve_ports(spec: RayClusterSpec) -> list[dict[str, Any]]:
    """The head ports named ``serve`` or ``serve-*``, from the same ports the head Service gets: a head container
    that declares none has KubeRay's defaults, ``serve 8000`` among them."""
    return [{"name": name, "port": port} for name, port in sorted(head_ports(spec).items())
            if name == "serve" or name.startswith("serve-")]


def build_serve_service(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """``<cluster>-serve-svc`` over every pod of the cluster, exposing head ports named serve / serve-*."""
    del options  # Same shape whatever the operator options; kept for a uniform builder signature.
    ports = serve_ports(cluster.spec)
    if not ports:
        raise BuildError(SERVE_PORT_ERROR)
    spec: dict[str, Any] = {"selector": {L.RAY_CLUSTER: cluster.name}, "ports": ports}
    if cluster.spec.head_group_spec.service_type:
        spec["type"] = cluster.spec.head_group_spec.service_type
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": names.serve_service_name(cluster.name),
            "namespace": cluster.namespace,
            "labels": {
                L.RAY_ORIGINATED_FROM_CR_NAME: cluster.name,
                L.RAY_ORIGINATED_FROM_CRD: L.CRD_RAYCLUSTER,
                L.RAY_SERVE: names.serve_service_label(cluster.name),
            },
        },
        "spec": spec,
    }


def needs_headless_worker_service(cluster: RayCluster) -> bool:
    """Only multi-host groups (numOfHosts > 1) need stable per-pod DNS."""
    return any((g.num_of_hosts or 1) > 1 for g in cluster.spec.worker_group_specs or [])


def build_headless_worker_service(
    cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS
) -> dict[str, Any]:
    """``<cluster>-headless``: a port-less headless Service over the cluster's workers."""
    del options
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": names.headless_worker_service_name(cluster),
            "namespace": cluster.namespace,
            "labels": {L.RAY_HEADLESS_WORKER_SVC: cluster.name},
        },
        "spec": {
            "clusterIP": "None",
            "type": "ClusterIP",
            "publishNotReadyAddresses": True,
            "selector": {L.RAY_CLUSTER: cluster.name, L.RAY_NODE_TYPE: L.NODE_TYPE_WORKER},
        },
    }
