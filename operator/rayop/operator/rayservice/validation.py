"""KubeRay's RayService validation (``ValidateRayServiceMetadata``/``ValidateRayServiceSpec``), with its messages.

A failure makes the RayService ``Ready=False/ValidationFailed`` (with a Warning event) until the spec changes, as
KubeRay v1.6 does (#4228). The embedded ``rayClusterConfig`` goes through the RayCluster spec validation, its
messages prefixed "The RayService spec is invalid: ".
"""

from __future__ import annotations

from rayop.api import labels as L
from rayop.api.k8s_syntax import dns1035_errors, go_list
from rayop.api.problems import ValidationProblem
from rayop.api.rayservice import MAX_NAME_LENGTH, RayService, UpgradeType
from rayop.operator.builders.service import SERVE_PORT_ERROR, serve_ports
from rayop.operator.raycluster.validation import DEFAULT_FEATURE_GATES, validate_raycluster_spec
from rayop.serve_rollout.timeouts import parse_duration

SPEC_INVALID = "The RayService spec is invalid: "
METADATA_INVALID = "The RayService metadata is invalid: "


def validate_rayservice_metadata(svc: RayService) -> list[ValidationProblem]:
    name = svc.name
    if len(name) > MAX_NAME_LENGTH:
        return [ValidationProblem("metadata.name", f"{METADATA_INVALID}RayService name should be no more than "
                                                   f"{MAX_NAME_LENGTH} characters")]
    errs = dns1035_errors(name)
    if errs:
        return [ValidationProblem("metadata.name", f"{METADATA_INVALID}RayService name should be a valid DNS1035 "
                                                   f"label: {go_list(errs)}")]
    timeout = svc.annotations.get(L.INITIALIZING_TIMEOUT)
    if timeout is not None and parse_duration(timeout) is None:
        return [ValidationProblem(f"metadata.annotations[{L.INITIALIZING_TIMEOUT}]",
                                  f"{METADATA_INVALID}{L.INITIALIZING_TIMEOUT} annotation must be a positive "
                                  f"duration or integer seconds, got {timeout!r}")]
    return []


def _incremental(svc: RayService) -> list[ValidationProblem]:
    path = "spec.upgradeStrategy.clusterUpgradeOptions"
    if not svc.spec.ray_cluster_config.is_autoscaling_enabled():
        return [ValidationProblem("spec.rayClusterConfig.enableInTreeAutoscaling",
                                  SPEC_INVALID + "Ray Autoscaler is required for NewClusterWithIncrementalUpgrade")]
    options = svc.spec.upgrade_strategy.cluster_upgrade_options if svc.spec.upgrade_strategy else None
    if options is None:
        return [ValidationProblem(path, SPEC_INVALID + "ClusterUpgradeOptions are required for "
                                                       "NewClusterWithIncrementalUpgrade")]
    surge = 100 if options.max_surge_percent is None else options.max_surge_percent
    if not 0 <= surge <= 100:
        return [ValidationProblem(f"{path}.maxSurgePercent",
                                  SPEC_INVALID + "maxSurgePercent must be between 0 and 100")]
    if not 0 <= options.step_size_percent <= 100:
        return [ValidationProblem(f"{path}.stepSizePercent",
                                  SPEC_INVALID + "stepSizePercent must be between 0 and 100")]
    if options.step_size_percent > surge:
        return [ValidationProblem(f"{path}.stepSizePercent",
                                  SPEC_INVALID + "stepSizePercent must be less than or equal to maxSurgePercent")]
    if options.interval_seconds <= 0:
        return [ValidationProblem(f"{path}.intervalSeconds", SPEC_INVALID + "intervalSeconds must be greater than 0")]
    if not options.gateway_class_name:
        return [ValidationProblem(f"{path}.gatewayClassName",
                                  SPEC_INVALID + "gatewayClassName is required for NewClusterWithIncrementalUpgrade")]
    return []


def validate_rayservice_spec(svc: RayService,
                             feature_gates: frozenset[str] = DEFAULT_FEATURE_GATES) -> list[ValidationProblem]:
    spec = svc.spec
    cluster = spec.ray_cluster_config
    auth = cluster.auth_options
    if auth is not None and auth.enable_k8s_token_auth:
        return [ValidationProblem("spec.rayClusterConfig.authOptions.enableK8sTokenAuth",
                                  SPEC_INVALID + "K8s token auth mode is currently not supported for RayService")]
    head_service = cluster.head_group_spec.head_service or {}
    if (head_service.get("metadata") or {}).get("name"):
        return [ValidationProblem("spec.rayClusterConfig.headGroupSpec.headService.metadata.name",
                                  SPEC_INVALID + "spec.rayClusterConfig.headGroupSpec.headService.metadata.name "
                                                 "should not be set")]
    problems = []
    for problem in validate_raycluster_spec(cluster, svc.annotations, feature_gates=feature_gates):
        path = problem.path
        if path == "spec" or path.startswith("spec."):
            path = "spec.rayClusterConfig" + path.removeprefix("spec")
        problems.append(ValidationProblem(path, SPEC_INVALID + problem.message))
    if problems:
        return problems[:1]
    kind = spec.upgrade_type()
    if kind is not None and kind not in {t.value for t in UpgradeType}:
        return [ValidationProblem("spec.upgradeStrategy.type", SPEC_INVALID + f"Spec.UpgradeStrategy.Type value "
                                  f"{kind} is invalid, valid options are NewClusterWithIncrementalUpgrade, "
                                  f"NewCluster, or None")]
    delay = spec.ray_cluster_deletion_delay_seconds
    if delay is not None and delay < 0:
        return [ValidationProblem("spec.rayClusterDeletionDelaySeconds", SPEC_INVALID + "Spec.RayClusterDeletionDelay"
                                  f"Seconds should be a non-negative integer, got {delay}")]
    if kind == UpgradeType.NEW_CLUSTER_WITH_INCREMENTAL_UPGRADE:
        return _incremental(svc)
    return _serve_port(svc)


def _serve_port(svc: RayService) -> list[ValidationProblem]:
    """rayop's own check (KubeRay creates the cluster, logs the error and never serves): the serve Service needs a
    port, from the head container (its declared ``serve``/``serve-*`` ports, or the defaults when it declares none)
    or from ``serveService``."""
    custom = ((svc.spec.serve_service or {}).get("spec") or {}).get("ports")
    if custom or serve_ports(svc.spec.ray_cluster_config):
        return []
    return [ValidationProblem("spec.rayClusterConfig.headGroupSpec.template.spec.containers[0].ports",
                              SPEC_INVALID + SERVE_PORT_ERROR)]


def validate_rayservice(svc: RayService) -> list[ValidationProblem]:
    return validate_rayservice_metadata(svc) or validate_rayservice_spec(svc)
