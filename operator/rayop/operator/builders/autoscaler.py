"""The autoscaler sidecar injected into the head pod when ``enableInTreeAutoscaling`` is true.

By default the sidecar is exactly KubeRay's (``BuildAutoscalerContainer``): Ray's ``ray kuberay-autoscaler`` in the
head Ray container's image, because that is the only autoscaler a stock Ray image is known to hold.  Only when the
operator is told of an image that holds rayop (``BuildOptions.rayop_autoscaler_image``) does the sidecar run
``rayop autoscaler`` from it.  Either way the container has KubeRay's shape (``/bin/bash -c -- <start command>``,
env, resources), so ``autoscalerOptions`` overrides apply exactly as in KubeRay.
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
#: What KubeRay runs in the sidecar (and puts in ``KUBERAY_GEN_AUTOSCALER_START_CMD``).
KUBERAY_AUTOSCALER_START_CMD = (
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
)
#: What the sidecar runs from ``BuildOptions.rayop_autoscaler_image``: rayop's autoscaler, same arguments.
RAYOP_AUTOSCALER_START_CMD = (
    "rayop autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
)
DEFAULT_AUTOSCALER_RESOURCES = {
    "limits": {"cpu": "500m", "memory": "512Mi"},
    "requests": {"cpu": "500m", "memory": "512Mi"},
}


def field_ref_env(name: str, field_path: str) -> dict[str, Any]:
    """An env var read from the pod's own metadata (downward API)."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def build_autoscaler_container(cluster: RayCluster, options: BuildOptions) -> dict[str, Any]:
    """The ``autoscaler`` container, with auth env and ``autoscalerOptions`` overrides applied."""
    image, start_cmd = _image_and_start_command(cluster, options)
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
        "command": _bash_command(options),
        "args": [start_cmd],
        "resources": copy.deepcopy(DEFAULT_AUTOSCALER_RESOURCES),
    }
    if auth.is_auth_enabled(cluster):
        auth.add_token_auth_env(cluster, container)
    _merge_overrides(container, cluster)
    return container


def _image_and_start_command(cluster: RayCluster, options: BuildOptions) -> tuple[str, str]:
    """rayop's autoscaler only with the operator's rayop image; otherwise KubeRay's, in the head's image.

    A user ``autoscalerOptions.image`` replaces the image as in KubeRay, and the command then follows the image:
    under KubeRay such an image holds Ray's autoscaler, and nothing says it holds rayop.
    """
    opts = cluster.spec.autoscaler_options
    user_image = opts.image if opts is not None else None
    if options.rayop_autoscaler_image is not None and user_image is None:
        return options.rayop_autoscaler_image, RAYOP_AUTOSCALER_START_CMD
    head_containers = (cluster.spec.head_group_spec.template.get("spec") or {}).get("containers") or [{}]
    return head_containers[0].get("image", ""), KUBERAY_AUTOSCALER_START_CMD


def _bash_command(options: BuildOptions) -> list[str]:
    """KubeRay's ``GetContainerCommand``: ``/bin/bash -c --``, ``-cl`` with ENABLE_LOGIN_SHELL (the same wrapper
    ``pod.container_command`` gives the Ray container; not imported from there, as pod.py imports this module)."""
    return ["/bin/bash", "-cl" if options.enable_login_shell else "-c", "--"]


def _merge_overrides(container: dict[str, Any], cluster: RayCluster) -> None:
    """KubeRay's ``mergeAutoscalerOverrides``: replace resources/image/pull policy/security context/command/args,
    append env/envFrom/volumeMounts.  ``KUBERAY_GEN_AUTOSCALER_START_CMD`` keeps the generated start command, so
    user ``args`` can still run it (``"ulimit -n 65536; $KUBERAY_GEN_AUTOSCALER_START_CMD"``)."""
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
    if opts.args:
        container["args"] = list(opts.args)
