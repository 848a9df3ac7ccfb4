"""KubeRay's RayCluster validation, with KubeRay's exact messages, as a pure function.

KubeRay checks metadata, spec and status at the start of every reconcile (``utils/validation.go``) and, with
webhooks on, rejects duplicate worker group names at admission.  KubeRay stops at the first failure; rayop
reports every problem it finds, in KubeRay's order, each with the field path it concerns, so the first
problem is always the one KubeRay would have reported.  Checks that can be stated at admission are also CEL
rules on the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.api.k8s_syntax import (
    dns1035_errors,
    go_list,
    label_value_errors,
    qualified_name_errors,
)
from rayop.api.problems import ValidationProblem

from .validation_features import (
    RAY_ENABLE_AUTOSCALER_V2,
    env_by_name,
    validate_alpha,
    validate_auth,
    validate_autoscaling,
    validate_gcs_ft,
    version_problem,
)

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


def _containers(template: dict[str, Any]) -> list[dict[str, Any]]:
    return list((template.get("spec") or {}).get("containers") or [])


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


def _autoscaler_v2_viaenv_by_name(head: dict[str, Any]) -> bool:
    env = env_by_name(head).get(RAY_ENABLE_AUTOSCALER_V2)
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
    head_env = env_by_name(head)
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
        v2_on = v2 or _autoscaler_v2_viaenv_by_name(head)
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
            prio_msg = version_problem(spec, "2.56.0", f"worker group {name}: priority is set,")
            if prio_msg is None and not v2_on:
                prio_msg = (
                    f"worker group {name}: priority is set to {group.priority}, but autoscaler v2 is not "
                    "enabled. "
                    "Priority is only supported with autoscaler v2 enabled"
                )
            if prio_msg is not None:
                problems.append(ValidationProblem(f"{path}.priority", prio_msg))
    problems += validate_gcs_ft(spec, annotations, head, head_env, head_spec.ray_start_params or {})
    if "RayJobDeletionPolicy" not in feature_gates:
        for i, group in enumerate(spec.worker_group_specs or []):
            if group.suspend:
                msg = (
                    f"worker group {group.group_name} can be suspended only when the RayJobDeletionPolicy "
                    "feature gate is enabled"
                )
                problems.append(ValidationProblem(f"spec.workerGroupSpecs[{i}].suspend", msg))
    problems += validate_autoscaling(spec, head, head_env, autoscaling, v2)
    problems += validate_auth(spec)
    problems += validate_alpha(spec, feature_gates)
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
