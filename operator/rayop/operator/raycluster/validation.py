"""KubeRay's RayCluster validation, with KubeRay's exact messages, as a pure function.

KubeRay checks metadata, spec and status at the start of every reconcile (``utils/validation.go``) and, with
webhooks on, rejects duplicate worker group names at admission.  KubeRay stops at the first failure; rayop
reports every problem it finds, in KubeRay's order, each with the field path it concerns, so the first
problem is always the one KubeRay would have reported.  Checks that can be stated at admission are also CEL
rules on the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.api.k8s_syntax import (
    dns1035_errors,
    go_list,
    label_value_errors,
    qualified_name_errors,
)
from rayop.api.ray_version import parse_ray_version
from rayop.api.raycluster import UNSUPPORTED_ALPHA_FIELDS

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster, RayClusterSpec

MAX_RAYCLUSTER_NAME_LENGTH = 53
#: KubeRay's feature gates that are on by default; alpha gates (off) guard the unsupported add-ons.
DEFAULT_FEATURE_GATES = frozenset(
    {
        "RayClusterStatusConditions",
        "RayJobDeletionPolicy",
        "RayMultiHostIndexing",
        "RayServiceIncrementalUpgrade",
    }
)
RAY_ENABLE_AUTOSCALER_V2 = "RAY_enable_autoscaler_v2"


@dataclass(frozen=True)
class ValidationProblem:
    """One invalid field: where it is and KubeRay's message for it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e.get("name", ""): e for e in container.get("env") or []}


def _containers(template: dict[str, Any]) -> list[dict[str, Any]]:
    return list((template.get("spec") or {}).get("containers") or [])


def _version_problem(spec: RayClusterSpec, minimum: str, what: str) -> str | None:
    """KubeRay's ``<what> but RayVersion ...`` family of messages, or None when the version is new enough."""
    if not spec.ray_version:
        return f"{what} but RayVersion was not specified. Ray version {minimum} or later is required"
    parsed = parse_ray_version(spec.ray_version)
    if parsed is None:
        return f"{what} but RayVersion format is invalid: {spec.ray_version}, could not parse version"
    if parsed < tuple(int(p) for p in minimum.split(".")):
        return f"{what} but minimum Ray version is {minimum}, got {spec.ray_version}"
    return None


def validate_metadata(metadata: dict[str, Any]) -> list[ValidationProblem]:
    """Name length and DNS-1035 syntax (controller and webhook)."""
    name = str(metadata.get("name", ""))
    if len(name) > MAX_RAYCLUSTER_NAME_LENGTH:
        msg = f"RayCluster name should be no more than {MAX_RAYCLUSTER_NAME_LENGTH} characters"
        return [ValidationProblem("metadata.name", msg)]
    errs = dns1035_errors(name)
    if errs:
        msg = f"RayCluster name should be a valid DNS1035 label: {go_list(errs)}"
        return [ValidationProblem("metadata.name", msg)]
    return []


def validate_status(cluster: RayCluster) -> list[ValidationProblem]:
    """Suspending and Suspended may never both be True."""
    conditions = cluster.status.conditions if cluster.status and cluster.status.conditions else []
    true = {c.type for c in conditions if c.status == "True"}
    if {"RayClusterSuspending", "RayClusterSuspended"} <= true:
        msg = (
            "invalid RayCluster State: rayv1.RayClusterSuspending and rayv1.RayClusterSuspended conditions "
            "should not be both true"
        )
        return [ValidationProblem("status.conditions", msg)]
    return []


def validate_upgrade_strategy(cluster: RayCluster) -> list[ValidationProblem]:
    """Recreate/None only, and never on clusters created by a RayJob or RayService."""
    strategy = cluster.spec.upgrade_strategy
    if strategy is None or strategy.type is None:
        return []
    path = "spec.upgradeStrategy.type"
    if strategy.type not in ("Recreate", "None"):
        msg = (
            f"The RayCluster spec is invalid: Spec.UpgradeStrategy.Type value {strategy.type} is invalid, "
            "valid options are Recreate or None"
        )
        return [ValidationProblem(path, msg)]
    creator = cluster.labels.get(L.RAY_ORIGINATED_FROM_CRD, "")
    if creator in (L.CRD_RAYJOB, L.CRD_RAYSERVICE):
        return [
            ValidationProblem(path, f"upgradeStrategy cannot be set when RayCluster is created by {creator}")
        ]
    return []


def validate_unique_group_names(spec: RayClusterSpec) -> list[ValidationProblem]:
    """KubeRay's webhook check: worker group names are unique."""
    seen: set[str] = set()
    problems = []
    for i, group in enumerate(spec.worker_group_specs or []):
        if group.group_name in seen:
            problems.append(
                ValidationProblem(f"spec.workerGroupSpecs[{i}]", "worker group names must be unique")
            )
        seen.add(group.group_name)
    return problems


def _group_resources_and_labels(
    path: str,
    name: str,
    params: dict[str, str] | None,
    resources: dict[str, str] | None,
    labels: dict[str, str] | None,
) -> list[ValidationProblem]:
    params = params or {}
    problems = []
    if resources and any(params.get(k) for k in ("num-cpus", "num-gpus", "memory", "resources")):
        msg = (
            f"resource fields should not be set in both rayStartParams and Resources for {name} group; "
            "please use only one"
        )
        problems.append(ValidationProblem(f"{path}.resources", msg))
    if "labels" in params:
        msg = (
            f"rayStartParams['labels'] is not supported for {name} group; please use the top-level Labels "
            "field instead"
        )
        problems.append(ValidationProblem(f"{path}.rayStartParams", msg))
        return problems
    errs = []
    for key, value in (labels or {}).items():
        errs += [
            f"invalid label key for {name} group: '{key}', error: {e}" for e in qualified_name_errors(key)
        ]
        errs += [
            f"invalid label value for key '{key}' in {name} group: '{value}', error: {e}"
            for e in label_value_errors(value)
        ]
    if errs:
        problems.append(ValidationProblem(f"{path}.labels", "; ".join(errs)))
    return problems


def _autoscaler_v2_via_env(head: dict[str, Any]) -> bool:
    env = _env(head).get(RAY_ENABLE_AUTOSCALER_V2)
    return env is not None and env.get("value") in ("1", "true")


def validate_raycluster_spec(
    spec: RayClusterSpec,
    annotations: dict[str, str],
    *,
    feature_gates: frozenset[str] = DEFAULT_FEATURE_GATES,
) -> list[ValidationProblem]:
    """KubeRay's ``ValidateRayClusterSpec`` (also used for RayJob and RayService cluster specs)."""
    head_spec = spec.head_group_spec
    head_containers = _containers(head_spec.template)
    if not head_containers:
        return [
            ValidationProblem(
                "spec.headGroupSpec.template.spec.containers",
                "headGroupSpec should have at least one container",
            )
        ]
    head = head_containers[0]
    head_env = _env(head)
    problems = _group_resources_and_labels(
        "spec.headGroupSpec", "Head", head_spec.ray_start_params, head_spec.resources, head_spec.labels
    )
    autoscaling = bool(spec.enable_in_tree_autoscaling)
    v2 = spec.autoscaler_version() == "v2"
    for i, group in enumerate(spec.worker_group_specs or []):
        path, name = f"spec.workerGroupSpecs[{i}]", group.group_name
        if not _containers(group.template):
            problems.append(
                ValidationProblem(
                    f"{path}.template.spec.containers", "workerGroupSpec should have at least one container"
                )
            )
            continue
        lo, hi = group.min_replicas, group.max_replicas
        if not autoscaling and (lo is None or hi is None):
            msg = (
                f"worker group {name} must set both minReplicas and maxReplicas when autoscaling is disabled"
            )
            problems.append(ValidationProblem(path, msg))
        if lo is not None and lo < 0:
            problems.append(
                ValidationProblem(f"{path}.minReplicas", f"worker group {name} has negative minReplicas {lo}")
            )
        if hi is not None and hi < 0:
            problems.append(
                ValidationProblem(f"{path}.maxReplicas", f"worker group {name} has negative maxReplicas {hi}")
            )
        if lo is not None and hi is not None and lo > hi:
            msg = f"worker group {name} has minReplicas {lo} greater than maxReplicas {hi}"
            problems.append(ValidationProblem(f"{path}.minReplicas", msg))
        problems += _group_resources_and_labels(
            path, name, group.ray_start_params, group.resources, group.labels
        )
        v2_on = v2 or _autoscaler_v2_via_env(head)
        if group.idle_timeout_seconds is not None:
            if group.idle_timeout_seconds < 0:
                msg = (
                    f"worker group {name}: idleTimeoutSeconds must be non-negative, got "
                    f"{group.idle_timeout_seconds}"
                )
                problems.append(ValidationProblem(f"{path}.idleTimeoutSeconds", msg))
            elif not v2_on:
                msg = (
                    f"worker group {name}: idleTimeoutSeconds is set, but autoscaler v2 is not enabled. "
                    "Please set "
                    ".spec.autoscalerOptions.version to 'v2' (or set RAY_enable_autoscaler_v2 environment "
                    "variable "
                    "to 'true' in the head pod if using KubeRay < 1.4.0)"
                )
                problems.append(ValidationProblem(f"{path}.idleTimeoutSeconds", msg))
        if group.priority:
            prio_msg = _version_problem(spec, "2.56.0", f"worker group {name}: priority is set,")
            if prio_msg is None and not v2_on:
                prio_msg = (
                    f"worker group {name}: priority is set to {group.priority}, but autoscaler v2 is not "
                    "enabled. "
                    "Priority is only supported with autoscaler v2 enabled"
                )
            if prio_msg is not None:
                problems.append(ValidationProblem(f"{path}.priority", prio_msg))
    problems += _validate_gcs_ft(spec, annotations, head, head_env, head_spec.ray_start_params or {})
    if "RayJobDeletionPolicy" not in feature_gates:
        for i, group in enumerate(spec.worker_group_specs or []):
            if group.suspend:
                msg = (
                    f"worker group {group.group_name} can be suspended only when the RayJobDeletionPolicy "
                    "feature gate is enabled"
                )
                problems.append(ValidationProblem(f"spec.workerGroupSpecs[{i}].suspend", msg))
    problems += _validate_autoscaling(spec, head, head_env, autoscaling, v2)
    problems += _validate_auth(spec)
    problems += _validate_alpha(spec, feature_gates)
    return problems


def _validate_gcs_ft(
    spec: RayClusterSpec,
    annotations: dict[str, str],
    head: dict[str, Any],
    head_env: dict[str, dict[str, Any]],
    params: dict[str, str],
) -> list[ValidationProblem]:
    problems = []
    options = spec.gcs_fault_tolerance_options
    path = "spec.gcsFaultToleranceOptions"
    env_path = "spec.headGroupSpec.template.spec.containers[0].env"
    if annotations.get(L.FT_ENABLED) and options is not None:
        msg = (
            "ray.io/ft-enabled annotation and GcsFaultToleranceOptions are both set. Please use only "
            "GcsFaultToleranceOptions to configure GCS fault tolerance"
        )
        problems.append(ValidationProblem(path, msg))
    ft_enabled = annotations.get(L.FT_ENABLED, "").lower() == "true" or options is not None
    if not ft_enabled and "RAY_REDIS_ADDRESS" in head_env:
        msg = (
            "RAY_REDIS_ADDRESS is set which implicitly enables GCS fault tolerance, but "
            "GcsFaultToleranceOptions "
            "is not set. Please set GcsFaultToleranceOptions to enable GCS fault tolerance"
        )
        problems.append(ValidationProblem(env_path, msg))
    if options is not None:
        checks = [
            (bool(params.get("redis-password")), "spec.headGroupSpec.rayStartParams",
             "cannot set `redis-password` in rayStartParams when GcsFaultToleranceOptions is enabled - use "
             "GcsFaultToleranceOptions.RedisPassword instead"),
            ("REDIS_PASSWORD" in head_env, env_path,
             "cannot set `REDIS_PASSWORD` env var in head Pod when GcsFaultToleranceOptions is enabled - use "
             "GcsFaultToleranceOptions.RedisPassword instead"),
            ("RAY_REDIS_ADDRESS" in head_env, env_path,
             "cannot set `RAY_REDIS_ADDRESS` env var in head Pod when GcsFaultToleranceOptions is enabled "
             "- use "
             "GcsFaultToleranceOptions.RedisAddress instead"),
            (bool(annotations.get(L.EXTERNAL_STORAGE_NAMESPACE)), "metadata.annotations",
             "cannot set `ray.io/external-storage-namespace` annotation when GcsFaultToleranceOptions is "
             "enabled "
             "- use GcsFaultToleranceOptions.ExternalStorageNamespace instead"),
        ]  # fmt: skip
        problems += [ValidationProblem(p, m) for bad, p, m in checks if bad]
        if options.backend == "rocksdb":
            msg = (
                "the embedded RocksDB GCS fault tolerance backend (GcsFaultToleranceOptions.Backend: "
                "'rocksdb') "
                "requires the GCSFaultToleranceEmbeddedStorage feature gate to be enabled"
            )
            problems.append(ValidationProblem(f"{path}.backend", msg))
        elif options.storage is not None:
            msg = (
                "cannot set GcsFaultToleranceOptions.Storage when backend is 'redis' - it only applies to "
                "the "
                "'rocksdb' backend"
            )
            problems.append(ValidationProblem(f"{path}.storage", msg))
    if params.get("redis-username") or "REDIS_USERNAME" in head_env:
        msg = (
            "cannot set redis username in rayStartParams or environment variables - use "
            "GcsFaultToleranceOptions.RedisUsername instead"
        )
        problems.append(ValidationProblem("spec.headGroupSpec", msg))
    return problems


def _validate_autoscaling(
    spec: RayClusterSpec,
    head: dict[str, Any],
    head_env: dict[str, dict[str, Any]],
    autoscaling: bool,
    v2: bool,
) -> list[ValidationProblem]:
    problems = []
    env_path = "spec.headGroupSpec.template.spec.containers[0].env"
    v2_env = head_env.get(RAY_ENABLE_AUTOSCALER_V2)
    if not autoscaling and v2_env is not None and v2_env.get("value") in ("1", "true"):
        msg = (
            f"environment variable RAY_enable_autoscaler_v2 cannot be set to '{v2_env.get('value')}' when "
            "enableInTreeAutoscaling is false. Please set enableInTreeAutoscaling: true to use autoscaler v2"
        )
        problems.append(ValidationProblem(env_path, msg))
    if autoscaling:
        for i, group in enumerate(spec.worker_group_specs or []):
            if group.suspend:
                msg = f"worker group {group.group_name} cannot be suspended with Autoscaler enabled"
                problems.append(ValidationProblem(f"spec.workerGroupSpecs[{i}].suspend", msg))
        if spec.autoscaler_version() is not None and v2_env is not None:
            msg = (
                "both .spec.autoscalerOptions.version and head Pod env var RAY_enable_autoscaler_v2 are set, "
                "please only use the former"
            )
            problems.append(ValidationProblem("spec.autoscalerOptions.version", msg))
        if v2:
            head_policy = (spec.head_group_spec.template.get("spec") or {}).get("restartPolicy") or ""
            if head_policy not in ("", "Never"):
                msg = "restartPolicy for head Pod should be Never or unset when using autoscaler V2"
                problems.append(ValidationProblem("spec.headGroupSpec.template.spec.restartPolicy", msg))
            for i, group in enumerate(spec.worker_group_specs or []):
                policy = (group.template.get("spec") or {}).get("restartPolicy") or ""
                if policy not in ("", "Never"):
                    msg = (
                        f"restartPolicy for worker group {group.group_name} should be Never or unset when "
                        "using autoscaler V2"
                    )
                    problems.append(
                        ValidationProblem(f"spec.workerGroupSpecs[{i}].template.spec.restartPolicy", msg)
                    )
    opts = spec.autoscaler_options
    if opts is not None and opts.idle_timeout_seconds is not None and opts.idle_timeout_seconds < 0:
        msg = f"autoscalerOptions.idleTimeoutSeconds must be non-negative, got {opts.idle_timeout_seconds}"
        problems.append(ValidationProblem("spec.autoscalerOptions.idleTimeoutSeconds", msg))
    if opts is not None and any(e.get("name") == "KUBERAY_GEN_AUTOSCALER_START_CMD" for e in opts.env or []):
        msg = (
            "autoscalerOptions.env must not contain KUBERAY_GEN_AUTOSCALER_START_CMD: it is managed by "
            "KubeRay and "
            "injected automatically into the autoscaler container"
        )
        problems.append(ValidationProblem("spec.autoscalerOptions.env", msg))
    return problems


def _validate_auth(spec: RayClusterSpec) -> list[ValidationProblem]:
    options = spec.auth_options
    path = "spec.authOptions"
    k8s_auth = options is not None and bool(options.enable_k8s_token_auth)
    if options is None or options.mode != "token":
        if k8s_auth:
            msg = "authOptions.enableK8sTokenAuth is enabled but authOptions.mode not set to 'token'"
            return [ValidationProblem(f"{path}.enableK8sTokenAuth", msg)]
        return []
    version_msg = _version_problem(spec, "2.52.0", "authOptions.mode is 'token'")
    if version_msg is not None:
        return [ValidationProblem(f"{path}.mode", version_msg)]
    if k8s_auth:
        version_msg = _version_problem(spec, "2.55.0", "authOptions.enableK8sTokenAuth is enabled")
        if version_msg is not None:
            return [ValidationProblem(f"{path}.enableK8sTokenAuth", version_msg)]
        if options.secret_name:
            msg = "authOptions.enableK8sTokenAuth is enabled and authOptions.secretName is also set"
            return [ValidationProblem(f"{path}.secretName", msg)]
    return []


def _validate_alpha(spec: RayClusterSpec, feature_gates: frozenset[str]) -> list[ValidationProblem]:
    """The alpha add-ons rayop accepts but does not implement fail exactly as KubeRay fails with gates off."""
    problems = []
    if spec.history_server_options is not None and "RayClusterHistoryServer" not in feature_gates:
        problems.append(
            ValidationProblem(
                "spec.historyServerOptions", "RayClusterHistoryServer feature gate is not enabled"
            )
        )
    if (
        spec.network_policy is not None
        and UNSUPPORTED_ALPHA_FIELDS["spec.networkPolicy"] not in feature_gates
    ):
        msg = "spec.networkPolicy requires the RayClusterNetworkPolicy feature gate to be enabled"
        problems.append(ValidationProblem("spec.networkPolicy", msg))
    if spec.tls_options is not None and UNSUPPORTED_ALPHA_FIELDS["spec.tlsOptions"] not in feature_gates:
        msg = "spec.tlsOptions requires the RayClusterMTLS feature gate to be enabled"
        problems.append(ValidationProblem("spec.tlsOptions", msg))
    return problems


def validate_raycluster(
    cluster: RayCluster, *, feature_gates: frozenset[str] = DEFAULT_FEATURE_GATES
) -> list[ValidationProblem]:
    """Every problem KubeRay's controller (and webhook) would report for ``cluster``, in KubeRay's order."""
    problems = validate_metadata(cluster.metadata)
    problems += validate_unique_group_names(cluster.spec)
    problems += validate_raycluster_spec(cluster.spec, cluster.annotations, feature_gates=feature_gates)
    problems += validate_upgrade_strategy(cluster)
    problems += validate_status(cluster)
    return problems
