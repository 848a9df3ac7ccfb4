"""KubeRay's RayJob validation, with KubeRay's exact messages, as a pure function.

KubeRay checks a RayJob's metadata, spec and status at the start of every reconcile (``utils/validation.go``
``ValidateRayJobMetadata``/``ValidateRayJobSpec``/``ValidateRayJobStatus``); a failure makes the RayJob
``ValidationFailed`` for good.  Its webhook checks only the metadata.  KubeRay stops at the first failure; rayop
reports every problem it finds, in KubeRay's order, so the first problem is always the one KubeRay would have
reported.  A check that only makes sense once an earlier one passed (e.g. the legacy deletion policies once both are
set) is skipped when the earlier one fails, as KubeRay never reaches it either.

The embedded ``rayClusterSpec`` goes through the RayCluster spec validation, its messages prefixed
"The RayJob spec is invalid: " and its paths moved under ``spec.rayClusterSpec``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from rayop.api import labels as L
from rayop.api.k8s_syntax import dns1035_errors, go_list
from rayop.api.problems import ValidationProblem
from rayop.api.rayjob import DeletionPolicyType, JobDeploymentStatus, SubmissionMode
from rayop.operator.raycluster.validation import DEFAULT_FEATURE_GATES, validate_raycluster_spec

if TYPE_CHECKING:
    from rayop.api.rayjob import DeletionStrategy, RayJob

MAX_RAYJOB_NAME_LENGTH = 47
SPEC_INVALID = "The RayJob spec is invalid: "
DELETION_POLICY_GATE = "RayJobDeletionPolicy"
#: KubeRay's order of deletion impact for TTLs: a later policy may not act before an earlier one.
_TTL_ORDER = (DeletionPolicyType.DELETE_WORKERS, DeletionPolicyType.DELETE_CLUSTER, DeletionPolicyType.DELETE_SELF)
_STRATEGY = "spec.deletionStrategy"


def validate_rayjob_metadata(metadata: dict[str, Any]) -> list[ValidationProblem]:
    """Name length and DNS-1035 syntax (controller and webhook)."""
    name = str(metadata.get("name", ""))
    prefix = "The RayJob metadata is invalid: "
    if len(name) > MAX_RAYJOB_NAME_LENGTH:
        msg = f"{prefix}RayJob name should be no more than {MAX_RAYJOB_NAME_LENGTH} characters"
        return [ValidationProblem("metadata.name", msg)]
    errs = dns1035_errors(name)
    if errs:
        msg = f"{prefix}RayJob name should be a valid DNS1035 label: {go_list(errs)}"
        return [ValidationProblem("metadata.name", msg)]
    return []


def validate_rayjob_status(job: RayJob) -> list[ValidationProblem]:
    """Only InteractiveMode waits for the user's submission."""
    status = job.status.job_deployment_status if job.status else None
    if status == JobDeploymentStatus.WAITING and job.spec.submission_mode != SubmissionMode.INTERACTIVE_MODE:
        msg = (
            "The RayJob status is invalid: JobDeploymentStatus cannot be `Waiting` when SubmissionMode is not "
            "InteractiveMode"
        )
        return [ValidationProblem("status.jobDeploymentStatus", msg)]
    return []


def _autoscaling(job: RayJob) -> bool:
    return job.spec.ray_cluster_spec is not None and job.spec.ray_cluster_spec.is_autoscaling_enabled()


def _validate_legacy_policies(job: RayJob, strategy: DeletionStrategy) -> list[ValidationProblem]:
    """onSuccess and onFailure: both set, each with a policy, and a policy the job's cluster allows."""
    if strategy.on_success is None or strategy.on_failure is None:
        msg = (
            "both DeletionStrategy.OnSuccess and DeletionStrategy.OnFailure must be set when using the legacy "
            "deletion policy fields of DeletionStrategy"
        )
        return [ValidationProblem(_STRATEGY, msg)]
    on_success, on_failure = strategy.on_success.policy, strategy.on_failure.policy
    problems = [
        ValidationProblem(
            f"{_STRATEGY}.{field}.policy",
            f"the DeletionPolicyType field of DeletionStrategy.{name} cannot be unset when DeletionStrategy is "
            "enabled",
        )
        for field, name, policy in (("onSuccess", "OnSuccess", on_success), ("onFailure", "OnFailure", on_failure))
        if policy is None
    ]
    if on_success is None or on_failure is None:
        return problems
    removes_cluster = (DeletionPolicyType.DELETE_CLUSTER, DeletionPolicyType.DELETE_WORKERS)
    if job.spec.cluster_selector:
        for field, when, policy in (("onSuccess", "success", on_success), ("onFailure", "failure", on_failure)):
            if policy in removes_cluster:
                msg = f"the ClusterSelector mode doesn't support DeletionStrategy={policy} on {when}"
                problems.append(ValidationProblem(f"{_STRATEGY}.{field}.policy", msg))
    if DeletionPolicyType.DELETE_WORKERS in (on_success, on_failure) and _autoscaling(job):
        msg = "DeletionStrategy=DeleteWorkers currently does not support RayCluster with autoscaling enabled"
        problems.append(ValidationProblem(_STRATEGY, msg))
    if job.spec.shutdown_after_job_finishes and DeletionPolicyType.DELETE_NONE in (on_success, on_failure):
        msg = f"{SPEC_INVALID}shutdownAfterJobFinshes is set to 'true' while deletion policy is 'DeleteNone'"
        problems.append(ValidationProblem(_STRATEGY, msg))
    return problems


def _validate_deletion_rules(job: RayJob, strategy: DeletionStrategy) -> list[ValidationProblem]:
    """Each rule on its own, then uniqueness and the TTL order per condition (KubeRay joins these errors)."""
    problems = []
    by_condition: dict[tuple[str, str], dict[str, int]] = {}
    for i, rule in enumerate(strategy.deletion_rules or []):
        path, where = f"{_STRATEGY}.deletionRules[{i}]", f"deletionRules[{i}]"
        cond = rule.condition
        if cond.job_status is not None and cond.job_deployment_status is not None:
            problems.append(ValidationProblem(
                f"{path}.condition", f"{where}: cannot set both JobStatus and JobDeploymentStatus at the same time"))
            continue
        if cond.job_status is None and cond.job_deployment_status is None:
            problems.append(ValidationProblem(
                f"{path}.condition", f"{where}: exactly one of JobStatus and JobDeploymentStatus must be set"))
            continue
        if cond.ttl_seconds < 0:
            msg = f"{where}: TTLSeconds must be non-negative"
            problems.append(ValidationProblem(f"{path}.condition.ttlSeconds", msg))
            continue
        if job.spec.cluster_selector and rule.policy in (
            DeletionPolicyType.DELETE_CLUSTER, DeletionPolicyType.DELETE_WORKERS
        ):
            msg = f"{where}: DeletionPolicyType '{rule.policy}' not supported when ClusterSelector is set"
            problems.append(ValidationProblem(f"{path}.policy", msg))
            continue
        if rule.policy == DeletionPolicyType.DELETE_WORKERS and _autoscaling(job):
            msg = f"{where}: DeletionPolicyType 'DeleteWorkers' not supported with autoscaling enabled"
            problems.append(ValidationProblem(f"{path}.policy", msg))
            continue
        key = ("JobStatus", cond.job_status) if cond.job_status is not None else (
            "JobDeploymentStatus", str(cond.job_deployment_status))
        ttls = by_condition.setdefault(key, {})
        if rule.policy in ttls:
            msg = f"{where}: duplicate rule for DeletionPolicyType '{rule.policy}' and {key[0]} '{key[1]}'"
            problems.append(ValidationProblem(path, msg))
            continue
        ttls[rule.policy] = cond.ttl_seconds
    for (kind, value), ttls in by_condition.items():
        previous: tuple[str, int] | None = None
        for policy in _TTL_ORDER:
            if policy not in ttls:
                continue
            if previous is not None and ttls[policy] < previous[1]:
                msg = (
                    f"for {kind} '{value}': {policy} TTL ({ttls[policy]}) must be >= {previous[0]} TTL "
                    f"({previous[1]})"
                )
                problems.append(ValidationProblem(f"{_STRATEGY}.deletionRules", msg))
            previous = (policy, ttls[policy])
    return problems


def validate_deletion(job: RayJob, feature_gates: frozenset[str]) -> list[ValidationProblem]:
    """KubeRay's ``validateDeletionConfiguration``: TTL needs shutdown; one deletion style, gate on, valid content."""
    spec = job.spec
    problems = []
    if not spec.shutdown_after_job_finishes and spec.ttl_seconds_after_finished > 0:
        msg = (
            f"{SPEC_INVALID}a RayJob with shutdownAfterJobFinishes set to false cannot have "
            "TTLSecondsAfterFinished"
        )
        problems.append(ValidationProblem("spec.ttlSecondsAfterFinished", msg))
    strategy = spec.deletion_strategy
    if strategy is None:
        return problems
    if DELETION_POLICY_GATE not in feature_gates:
        msg = "RayJobDeletionPolicy feature gate must be enabled to use DeletionStrategy"
        return [*problems, ValidationProblem(_STRATEGY, msg)]
    legacy = strategy.on_success is not None or strategy.on_failure is not None
    rules = bool(strategy.deletion_rules)
    if rules and spec.shutdown_after_job_finishes:
        msg = (
            f"{SPEC_INVALID}spec.shutdownAfterJobFinishes and spec.deletionStrategy.deletionRules are mutually "
            "exclusive"
        )
        problems.append(ValidationProblem(f"{_STRATEGY}.deletionRules", msg))
    if rules and legacy:
        msg = f"{SPEC_INVALID}Cannot use both legacy onSuccess/onFailure fields and deletionRules simultaneously"
        return [*problems, ValidationProblem(_STRATEGY, msg)]
    if legacy:
        return problems + _validate_legacy_policies(job, strategy)
    if rules:
        return problems + _validate_deletion_rules(job, strategy)
    msg = (
        f"{SPEC_INVALID}DeletionStrategy requires either BOTH onSuccess and onFailure, OR the deletionRules field "
        "(cannot be empty)"
    )
    return [*problems, ValidationProblem(_STRATEGY, msg)]


def _validate_cluster_source(job: RayJob) -> list[ValidationProblem]:
    """rayClusterSpec or clusterSelector, and what the clusterSelector mode cannot do."""
    spec = job.spec
    selector = spec.cluster_selector or {}
    problems = []
    if spec.suspend and selector:
        msg = f"{SPEC_INVALID}the ClusterSelector mode doesn't support the suspend operation"
        problems.append(ValidationProblem("spec.suspend", msg))
    if spec.ray_cluster_spec is None and not selector:
        msg = f"{SPEC_INVALID}one of RayClusterSpec or ClusterSelector must be set"
        problems.append(ValidationProblem("spec", msg))
    if selector:
        if not selector.get(L.RAY_CLUSTER):
            msg = "cluster name in ClusterSelector should not be empty"
            problems.append(ValidationProblem("spec.clusterSelector", msg))
        if spec.submission_mode == SubmissionMode.SIDECAR_MODE:
            msg = "ClusterSelector is not supported in SidecarMode"
            problems.append(ValidationProblem("spec.clusterSelector", msg))
        if spec.backoff_limit is not None and spec.backoff_limit > 0:
            msg = f"{SPEC_INVALID}BackoffLimit is incompatible with ClusterSelector mode"
            problems.append(ValidationProblem("spec.backoffLimit", msg))
    return problems


def _validate_submission_mode(job: RayJob) -> list[ValidationProblem]:
    """InteractiveMode cannot retry; SidecarMode has no submitter pod and needs a head pod that is never restarted."""
    spec = job.spec
    problems = []
    if spec.submission_mode == SubmissionMode.INTERACTIVE_MODE and spec.backoff_limit is not None \
            and spec.backoff_limit > 0:
        msg = f"{SPEC_INVALID}BackoffLimit is incompatible with InteractiveMode"
        problems.append(ValidationProblem("spec.backoffLimit", msg))
    if spec.submission_mode != SubmissionMode.SIDECAR_MODE:
        return problems
    if spec.submitter_pod_template is not None:
        msg = "Currently, SidecarMode doesn't support SubmitterPodTemplate"
        problems.append(ValidationProblem("spec.submitterPodTemplate", msg))
    if spec.submitter_config is not None:
        msg = "Currently, SidecarMode doesn't support SubmitterConfig"
        problems.append(ValidationProblem("spec.submitterConfig", msg))
    if spec.ray_cluster_spec is not None:
        head_pod = spec.ray_cluster_spec.head_group_spec.template.get("spec") or {}
        if head_pod.get("restartPolicy") not in (None, "", "Never"):
            problems.append(ValidationProblem(
                "spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy",
                "restartPolicy for head Pod should be Never or unset when using SidecarMode",
            ))
    return problems


def _validate_cluster_spec(job: RayJob, feature_gates: frozenset[str]) -> list[ValidationProblem]:
    """No Kubernetes token auth for RayJob; then the RayCluster spec rules, prefixed and re-pathed."""
    cluster = job.spec.ray_cluster_spec
    if cluster is None:
        return []
    problems = []
    if cluster.auth_options is not None and cluster.auth_options.enable_k8s_token_auth:
        msg = f"{SPEC_INVALID}K8s token auth mode is currently not supported for RayJob"
        problems.append(ValidationProblem("spec.rayClusterSpec.authOptions.enableK8sTokenAuth", msg))
    for problem in validate_raycluster_spec(cluster, job.annotations, feature_gates=feature_gates):
        path = problem.path
        if path == "spec" or path.startswith("spec."):
            path = "spec.rayClusterSpec" + path.removeprefix("spec")
        problems.append(ValidationProblem(path, SPEC_INVALID + problem.message))
    return problems


#: JSON kinds as Go's encoding/json names them in "cannot unmarshal <kind> into Go value".
_JSON_KINDS: tuple[tuple[type, str], ...] = ((bool, "bool"), (int, "number"), (float, "number"), (str, "string"),
                                             (list, "array"))


def runtime_env_yaml_error(text: str) -> str | None:
    """Why ``runtimeEnvYAML`` does not decode into a mapping (KubeRay's ``UnmarshalRuntimeEnvYAML``), or None.

    KubeRay decodes it with sigs.k8s.io/yaml into ``map[string]interface{}``: empty text and ``null`` are fine,
    anything but a mapping fails.  The wrapping is KubeRay's; the YAML parser's own wording is PyYAML's, not go-yaml's.
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        cause = f"error converting YAML to JSON: yaml: {' '.join(str(exc).split())}"
    else:
        if value is None or isinstance(value, dict):
            return None
        kind = next((name for typ, name in _JSON_KINDS if isinstance(value, typ)), "string")
        cause = (
            f"error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {kind} into Go value of type "
            "types.RuntimeEnvType"
        )
    return f"failed to unmarshal RuntimeEnvYAML: {text}: {cause}"


def _validate_numbers(job: RayJob) -> list[ValidationProblem]:
    """runtimeEnvYAML decodes; deadlines are positive; backoffLimit is not negative."""
    spec = job.spec
    problems = []
    yaml_error = runtime_env_yaml_error(spec.runtime_env_yaml or "")
    if yaml_error is not None:
        problems.append(ValidationProblem("spec.runtimeEnvYAML", yaml_error))
    if spec.active_deadline_seconds is not None and spec.active_deadline_seconds <= 0:
        msg = f"{SPEC_INVALID}activeDeadlineSeconds must be a positive integer"
        problems.append(ValidationProblem("spec.activeDeadlineSeconds", msg))
    if spec.pre_running_deadline_seconds is not None and spec.pre_running_deadline_seconds <= 0:
        msg = f"{SPEC_INVALID}preRunningDeadlineSeconds must be a positive integer"
        problems.append(ValidationProblem("spec.preRunningDeadlineSeconds", msg))
    if spec.backoff_limit is not None and spec.backoff_limit < 0:
        msg = f"{SPEC_INVALID}backoffLimit must be a positive integer"
        problems.append(ValidationProblem("spec.backoffLimit", msg))
    return problems


def validate_rayjob_spec(
    job: RayJob, *, feature_gates: frozenset[str] = DEFAULT_FEATURE_GATES
) -> list[ValidationProblem]:
    """KubeRay's ``ValidateRayJobSpec`` (also the check of a RayCronJob's job template)."""
    spec = job.spec
    problems = []
    if spec.suspend and not spec.shutdown_after_job_finishes:
        msg = f"{SPEC_INVALID}a RayJob with shutdownAfterJobFinishes set to false is not allowed to be suspended"
        problems.append(ValidationProblem("spec.suspend", msg))
    if spec.ttl_seconds_after_finished < 0:
        msg = f"{SPEC_INVALID}TTLSecondsAfterFinished must be a non-negative integer"
        problems.append(ValidationProblem("spec.ttlSecondsAfterFinished", msg))
    problems += validate_deletion(job, feature_gates)
    problems += _validate_cluster_source(job)
    problems += _validate_submission_mode(job)
    problems += _validate_cluster_spec(job, feature_gates)
    problems += _validate_numbers(job)
    return problems


def validate_rayjob(
    job: RayJob, *, feature_gates: frozenset[str] = DEFAULT_FEATURE_GATES
) -> list[ValidationProblem]:
    """Every problem KubeRay's controller (and webhook) would report for ``job``, in KubeRay's order."""
    problems = validate_rayjob_metadata(job.metadata)
    problems += validate_rayjob_spec(job, feature_gates=feature_gates)
    problems += validate_rayjob_status(job)
    return problems
