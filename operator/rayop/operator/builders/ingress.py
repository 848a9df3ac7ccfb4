"""The dashboard Ingress created when ``headGroupSpec.enableIngress`` is true (KubeRay's
``common/ingress.go``).

One rule routes ``ingressOptions.path`` (default ``/``, ``Prefix``) on ``ingressOptions.host`` to the head
Service's dashboard port; the cluster's annotations are copied over, except ``kubernetes.io/ingress.class``
which becomes ``spec.ingressClassName``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.operator.builders import DEFAULT_OPTIONS, BuildOptions, names
from rayop.operator.builders.probes import find_container_port
from rayop.operator.builders.raystart import DEFAULT_DASHBOARD_PORT

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster


def is_ingress_enabled(cluster: RayCluster) -> bool:
    """``headGroupSpec.enableIngress`` is true."""
    return bool(cluster.spec.head_group_spec.enable_ingress)


def build_ingress(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """The networking.k8s.io/v1 Ingress ``CheckName(<cluster>-head-ingress)``."""
    del options
    head = cluster.spec.head_group_spec
    containers = (head.template.get("spec") or {}).get("containers") or [{}]
    dashboard_port = find_container_port(containers[0], "dashboard", DEFAULT_DASHBOARD_PORT)
    template_labels = (head.template.get("metadata") or {}).get("labels") or {}
    ingress_opts = head.ingress_options
    path: dict[str, Any] = {
        "path": (ingress_opts.path if ingress_opts and ingress_opts.path else "/"),
        "pathType": (ingress_opts.path_type if ingress_opts and ingress_opts.path_type else "Prefix"),
        "backend": {
            "service": {"name": names.head_service_name(cluster), "port": {"number": dashboard_port}},
        },
    }
    rule: dict[str, Any] = {"http": {"paths": [path]}}
    if ingress_opts and ingress_opts.host:
        rule["host"] = ingress_opts.host
    annotations = dict(cluster.annotations)
    ingress_class = annotations.pop(L.INGRESS_CLASS, None)
    spec: dict[str, Any] = {"rules": [rule]}
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    if ingress_opts and ingress_opts.tls:
        spec["tls"] = copy.deepcopy(ingress_opts.tls)
    metadata: dict[str, Any] = {
        "name": names.ingress_name(cluster),
        "namespace": cluster.namespace,
        "labels": {
            L.RAY_CLUSTER: cluster.name,
            L.RAY_IDENTIFIER: f"{cluster.name}-{L.NODE_TYPE_HEAD}",
            L.K8S_APP_NAME: template_labels.get(L.K8S_APP_NAME, L.APPLICATION_NAME),
            L.K8S_CREATED_BY: L.COMPONENT_NAME,
        },
    }
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec}
