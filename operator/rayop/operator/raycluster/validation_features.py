"""RayCluster validation of the optional features (GCS fault tolerance, autoscaling, auth, alpha add-ons), with
KubeRay's messages: split from :mod:`.validation` so each module stays one screenful of rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.api.problems import ValidationProblem
from rayop.api.ray_version import parse_ray_version
from rayop.api.raycluster import UNSUPPORTED_ALPHA_FIELDS

if TYPE_CHECKING:
    from rayop.api.raycluster import RayClusterSpec

RAY_ENABLE_AUTOSCALER_V2 = L.RAY_ENABLE_AUTOSCALER_V2


def env_by_name(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e.get("name", ""): e for e in container.get("env") or []}


def version_problem(spec: RayClusterSpec, minimum: str, what: str) -> str | None:
    """KubeRay's ``<what> but RayVersion ...`` family of messages, or None when the version is new enough."""
    if not spec.ray_version:
        return f"{what} but RayVersion was not specified. Ray version {minimum} or later is required"
    parsed = parse_ray_version(spec.ray_version)
    if parsed is None:
        return f"{what} but RayVersion format is invalid: {spec.ray_version}, could not parse version"
    if parsed < tuple(int(p) for p in minimum.split(".")):
        return f"{what} but minimum Ray version is {minimum}, got {spec.ray_version}"
    return None


def validate_gcs_ft(
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


def validate_autoscaling(
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


def validate_auth(spec: RayClusterSpec) -> list[ValidationProblem]:
    options = spec.auth_options
    path = "spec.authOptions"
    k8s_auth = options is not None and bool(options.enable_k8s_token_auth)
    if options is None or options.mode != "token":
        if k8s_auth:
            msg = "authOptions.enableK8sTokenAuth is enabled but authOptions.mode not set to 'token'"
            return [ValidationProblem(f"{path}.enableK8sTokenAuth", msg)]
        return []
    version_msg = version_problem(spec, "2.52.0", "authOptions.mode is 'token'")
    if version_msg is not None:
        return [ValidationProblem(f"{path}.mode", version_msg)]
    if k8s_auth:
        version_msg = version_problem(spec, "2.55.0", "authOptions.enableK8sTokenAuth is enabled")
        if version_msg is not None:
            return [ValidationProblem(f"{path}.enableK8sTokenAuth", version_msg)]
        if options.secret_name:
            msg = "authOptions.enableK8sTokenAuth is enabled and authOptions.secretName is also set"
            return [ValidationProblem(f"{path}.secretName", msg)]
    return []


def validate_alpha(spec: RayClusterSpec, feature_gates: frozenset[str]) -> list[ValidationProblem]:
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
