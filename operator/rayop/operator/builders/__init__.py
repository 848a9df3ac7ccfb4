"""Pure builders: a parsed RayCluster in, the Kubernetes objects KubeRay would create out (as plain dicts).

Nothing here does I/O, imports rayop.kube or reads the environment; operator-level knobs arrive in
:class:`BuildOptions`, so tests and golden snapshots can build every object from a manifest alone.  Owner
references are added by the reconciler, in one place, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class BuildError(ValueError):
    """The spec cannot be turned into the requested object (KubeRay reports the same condition as an
    error)."""


@dataclass(frozen=True)
class BuildOptions:
    """Operator-level switches that shape built objects (KubeRay reads most of these from env vars)."""

    cluster_domain: str = "cluster.local"
    """Cluster DNS domain used in FQ_RAY_IP / RAY_ADDRESS (KubeRay: CLUSTER_DOMAIN)."""
    rayop_autoscaler_image: str | None = None
    """An image that holds rayop: autoscaler sidecars run ``rayop autoscaler`` from it. None: Ray's own
    ``ray kuberay-autoscaler`` in the head Ray container's image, exactly as KubeRay (a stock Ray image has no
    rayop, so rayop's autoscaler is only chosen when the operator is told where it is)."""
    enable_init_container_injection: bool = True
    """Inject the wait-gcs-ready init container into workers (ENABLE_INIT_CONTAINER_INJECTION)."""
    enable_probes_injection: bool = True
    """Inject liveness/readiness probes into Ray containers (ENABLE_PROBES_INJECTION)."""
    head_service_cluster_ip: bool = False
    """Give the head Service a ClusterIP instead of making it headless
    (ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE)."""
    enable_login_shell: bool = False
    """Run the Ray container through `bash -cl` (ENABLE_LOGIN_SHELL)."""
    multihost_indexing: bool = True
    """Label workers with replica/host indices (feature gate RayMultiHostIndexing, on by default)."""
    operator_version: str = "nightly"
    """Version reported in usage tags and the head's ray.io/kuberay-version annotation."""
    default_container_envs: tuple[dict[str, Any], ...] = ()
    """Env vars added to every Ray container unless already set (config defaultContainerEnvs)."""
    default_pod_labels: dict[str, str] = field(default_factory=dict)
    """Labels added to every Ray pod unless already set (config defaultPodLabels)."""
    default_pod_annotations: dict[str, str] = field(default_factory=dict)
    """Annotations added to every Ray pod unless already set (config defaultPodAnnotations)."""
    head_sidecar_containers: tuple[dict[str, Any], ...] = ()
    """Containers appended to every head pod (config headSidecarContainers)."""
    worker_sidecar_containers: tuple[dict[str, Any], ...] = ()
    """Containers appended to every worker pod (config workerSidecarContainers)."""


DEFAULT_OPTIONS = BuildOptions()

__all__ = ["DEFAULT_OPTIONS", "BuildError", "BuildOptions"]
