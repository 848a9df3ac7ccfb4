"""The objects a RayService owns: one RayCluster per generation, and its own head and serve Services.

As KubeRay builds them (``rayservice_controller.go``): a cluster ``<svc>-<rand5>`` with the RayService's labels and
annotations plus the originated-from labels, the spec hash and the worker-group count; ``<svc>-head-svc`` copied
from the cluster's head Service under the RayService's labels; ``<svc>-serve-svc`` (or ``serveService``'s name) over
the cluster's pods labelled ``ray.io/serve=true``, with the head container's ``serve``/``serve-*`` ports. The
Services' selectors name the cluster: re-pointing them is the traffic switch.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.operator.builders import DEFAULT_OPTIONS, BuildError, BuildOptions, names
from rayop.operator.builders.service import SERVE_PORT_ERROR, build_head_service, serve_ports

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster
    from rayop.api.rayservice import RayService

#: Annotations rayop keeps on each RayService cluster (restart safety: read back by every pass).
SERVE_CONFIG_HASH = "rayop.io/serve-config-hash"
#: The hash of a serve config whose PUT was started and not yet seen to succeed: while it differs from
#: ``SERVE_CONFIG_HASH`` the cluster's config is unknown (the PUT may have landed, or not), so it is sent again.
SERVE_CONFIG_APPLYING = "rayop.io/serve-config-applying"
DELETE_AFTER = "rayop.io/delete-after"


def cluster_labels(svc: RayService) -> dict[str, str]:
    """The RayService's labels plus originated-from name and CRD (the last two win)."""
    return {**svc.labels, L.RAY_ORIGINATED_FROM_CR_NAME: svc.name, L.RAY_ORIGINATED_FROM_CRD: L.CRD_RAYSERVICE}


def cluster_annotations(svc: RayService, cluster_hash: str, num_worker_groups: int,
                        options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, str]:
    """The RayService's annotations plus the spec hash, the worker-group count and the operator version."""
    return {**svc.annotations, L.HASH_WITHOUT_REPLICAS_AND_WORKERS_TO_DELETE: cluster_hash,
            L.NUM_WORKER_GROUPS: str(num_worker_groups), L.KUBERAY_VERSION: options.operator_version}


def build_cluster_for_service(svc: RayService, *, cluster_name: str, cluster_hash: str,
                              options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """The RayCluster ``cluster_name`` of one generation of the RayService."""
    spec = svc.spec.ray_cluster_config.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")
    groups = len(spec.get("workerGroupSpecs") or [])
    metadata = {"name": cluster_name, "namespace": svc.namespace, "labels": cluster_labels(svc),
                "annotations": cluster_annotations(svc, cluster_hash, groups, options)}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": metadata, "spec": spec}


def head_service_name(svc: RayService) -> str:
    return names.check_name(f"{svc.name}-head-svc")


def serve_service_name(svc: RayService) -> str:
    custom = (svc.spec.serve_service or {}).get("metadata") or {}
    return str(custom.get("name") or names.serve_service_name(svc.name))


def service_labels(svc: RayService) -> dict[str, str]:
    """Labels the RayService's Services carry (what suspend and deletion select them by)."""
    return {L.RAY_ORIGINATED_FROM_CR_NAME: svc.name, L.RAY_ORIGINATED_FROM_CRD: L.CRD_RAYSERVICE}


def build_service_head_service(svc: RayService, cluster: RayCluster,
                               options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """``<svc>-head-svc``: the cluster's head Service under the RayService's name and labels."""
    service = copy.deepcopy(build_head_service(cluster, options))
    service["metadata"]["name"] = head_service_name(svc)
    service["metadata"]["namespace"] = svc.namespace
    service["metadata"]["labels"] = {**service_labels(svc), L.RAY_NODE_TYPE: L.NODE_TYPE_HEAD,
                                     L.RAY_IDENTIFIER: names.identifier(svc.name, L.NODE_TYPE_HEAD)}
    return service


def serve_selector(cluster_name: str) -> dict[str, str]:
    return {L.RAY_CLUSTER: cluster_name, L.RAY_SERVE: L.SERVE_TRUE}


def build_service_serve_service(svc: RayService, cluster: RayCluster) -> dict[str, Any]:
    """The serve Service over ``cluster``'s pods that pass the Serve health check, merged into ``serveService``."""
    ports = serve_ports(cluster.spec)
    custom = copy.deepcopy(svc.spec.serve_service or {})
    spec = custom.get("spec") or {}
    user_ports = list(spec.get("ports") or [])
    taken = {p.get("name") for p in user_ports}
    merged = [*user_ports, *(p for p in ports if p["name"] not in taken)]
    if not merged:
        raise BuildError(SERVE_PORT_ERROR)
    spec = {**spec, "selector": serve_selector(cluster.name), "ports": merged}
    if not spec.get("type") and cluster.spec.head_group_spec.service_type:
        spec["type"] = cluster.spec.head_group_spec.service_type
    meta = custom.get("metadata") or {}
    labels = {**(meta.get("labels") or {}), **service_labels(svc), L.RAY_SERVE: names.serve_service_label(svc.name)}
    metadata: dict[str, Any] = {"name": serve_service_name(svc), "namespace": svc.namespace, "labels": labels}
    if meta.get("annotations"):
        metadata["annotations"] = dict(meta["annotations"])
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
