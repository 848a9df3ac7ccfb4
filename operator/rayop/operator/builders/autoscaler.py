"""The autoscaler sidecar injected into the head pod when ``enableInTreeAutoscaling`` is true.

rayop runs its own autoscaler by default (``BuildOptions.autoscaler_command``), but the container otherwise
has KubeRay's shape, env and resources, and ``autoscalerOptions`` overrides apply exactly as in KubeRay, so a
user can switch back to ``ray kuberay-autoscaler`` by setting ``command``/``args`` (or the operator can, with
an empty ``autoscaler_command``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.operator.builders import BuildOptions, auth

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster

AUTOSCALER_CONTAINER_NAME = "autoscaler"
KUBERAY_GEN_AUTOSCALER_START_CMD = "KUBERAY_GEN_AUTOSCALER_START_CMD"
#: What KubeRay runs in the sidecar.
KUBERAY_AUTOSCALER_START_CMD = (
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
)
BASH_COMMAND = ["/bin/bash", "-c", "--"]
DEFAULT_AUTOSCALER_RESOURCES = {
    "limits": {"cpu": "500m", "memory": "512Mi"},
    "requests": {"cpu": "500m", "memory": "512Mi"},
}


def field_ref_env(name: str, field_path: str) -> dict[str, Any]:
    """An env var read from the pod's own metadata (downward API)."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def build_autoscaler_container(cluster: RayCluster, options: BuildOptions) -> dict[str, Any]:
    """The ``autoscaler`` container, with auth env and ``autoscalerOptions`` overrides applied."""
    head_containers = (cluster.spec.head_group_spec.template.get("spec") or {}).get("containers") or [{}]
    image = options.autoscaler_image or head_containers[0].get("image", "")
    if options.autoscaler_command:
        start_cmd = " ".join(options.autoscaler_command)
        command, args = list(options.autoscaler_command), []
    else:
        start_cmd = KUBERAY_AUTOSCALER_START_CMD
        command, args = list(BASH_COMMAND), [KUBERAY_AUTOSCALER_START_CMD]
    container: dict[str, Any] = {
        "name": AUTOSCALER_CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            field_ref_env("RAY_CLUSTER_NAME", f"metadata.labels['{L.RAY_CLUSTER}']"),
            field_ref_env("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
            field_ref_env("RAY_HEAD_POD_NAME", "metadata.name"),
            {"name": "KUBERAY_CRD_VER", "value": "v1"},
            {"name": KUBERAY_GEN_AUTOSCALER_START_CMD, "value": start_cmd},
        ],
        "command": command,
        "resources": copy.deepcopy(DEFAULT_AUTOSCALER_RESOURCES),
    }
    if args:
        container["args"] = args
    if auth.is_auth_enabled(cluster):
        auth.add_token_auth_env(cluster, container)
    _merge_overrides(container, cluster, start_cmd)
    return container


def _merge_overrides(container: dict[str, Any], cluster: RayCluster, start_cmd: str) -> None:
    """KubeRay's ``mergeAutoscalerOverrides``: replace resources/image/pull policy/security
    context/command/args, append env/envFrom/volumeMounts.

    rayop's default command is a plain argv rather than KubeRay's ``bash -c``; so that overrides written for
    KubeRay keep working, user ``args`` without a user ``command`` run under KubeRay's ``/bin/bash -c --``
    (where ``$KUBERAY_GEN_AUTOSCALER_START_CMD`` starts rayop's autoscaler), and a user ``command`` without
    ``args`` receives the generated start command as its argument, as it would under KubeRay.
    """
    opts = cluster.spec.autoscaler_options
    if opts is None:
        return
    if opts.resources is not None:
        container["resources"] = copy.deepcopy(opts.resources)
    if opts.image is not None:
        container["image"] = opts.image
    if opts.image_pull_policy is not None:
        container["imagePullPolicy"] = opts.image_pull_policy
    if opts.env:
        container["env"].extend(copy.deepcopy(opts.env))
    if opts.env_from:
        container.setdefault("envFrom", []).extend(copy.deepcopy(opts.env_from))
    if opts.volume_mounts:
        container.setdefault("volumeMounts", []).extend(copy.deepcopy(opts.volume_mounts))
    if opts.security_context is not None:
        container["securityContext"] = copy.deepcopy(opts.security_context)
    if opts.command:
        container["command"] = list(opts.command)
        if not opts.args and not container.get("args"):
            container["args"] = [start_cmd]
    if opts.args:
        container["args"] = list(opts.args)
        if not opts.command and container["command"] != BASH_COMMAND:
            container["command"] = list(BASH_COMMAND)
