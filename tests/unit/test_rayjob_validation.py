"""KubeRay's RayJob validation messages (utils/validation.go ValidateRayJob*), reported with field paths."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.api.rayjob import RayJob
from rayop.operator.rayjob.validation import validate_rayjob
from tests.unit.raycluster_fixtures import SAMPLE as RAYCLUSTER_SAMPLE

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"
SPEC_INVALID = "The RayJob spec is invalid: "

JOB: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayJob",
    "metadata": {"name": "rayjob-sample", "namespace": "default"},
    "spec": {"entrypoint": "python /home/ray/samples/sample_code.py",
             "rayClusterSpec": copy.deepcopy(RAYCLUSTER_SAMPLE["spec"])},
}
SELECTOR = {"ray.io/cluster": "existing"}


def make_job(**changes: Any) -> RayJob:
    """The base job with dotted-path changes; ``None`` removes the key (``spec.rayClusterSpec``: None)."""
    obj = copy.deepcopy(JOB)
    for path, value in changes.items():
        target: Any = obj
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target.setdefault(key, {})
        if value is None:
            target.pop(keys[-1], None)
        elif isinstance(target, list):
            target[int(keys[-1])] = value
        else:
            target[keys[-1]] = value
    return RayJob.parse(obj)


def messages(job: RayJob, **kwargs: Any) -> list[str]:
    return [p.message for p in validate_rayjob(job, **kwargs)]


def rules(*specs: tuple[str, str, int]) -> dict[str, Any]:
    """deletionRules from (policy, jobStatus, ttlSeconds) triples."""
    return {"deletionRules": [{"policy": p, "condition": {"jobStatus": s, "ttlSeconds": t}} for p, s, t in specs]}


def legacy(on_success: str | None, on_failure: str | None) -> dict[str, Any]:
    return {"onSuccess": {"policy": on_success} if on_success else {},
            "onFailure": {"policy": on_failure} if on_failure else {}}


def test_base_job_is_valid():
    assert messages(make_job()) == []


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("ray-job.*.yaml")), ids=lambda p: p.name)
def test_every_kuberay_sample_is_valid(path: Path):
    [doc] = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "RayJob"]
    assert messages(RayJob.parse(doc)) == []


# --- metadata -------------------------------------------------------------------------------------------------


def test_name_longer_than_47_characters():
    problems = validate_rayjob(make_job(**{"metadata.name": "a" * 48}))
    assert [(p.path, p.message) for p in problems] == [
        ("metadata.name", "The RayJob metadata is invalid: RayJob name should be no more than 47 characters")
    ]


def test_name_must_be_dns1035_label():
    [msg] = messages(make_job(**{"metadata.name": "1job"}))
    assert msg.startswith(
        "The RayJob metadata is invalid: RayJob name should be a valid DNS1035 label: [a DNS-1035 label must consist"
    )


# --- suspend, TTL and deletion strategy -----------------------------------------------------------------------


def test_suspend_requires_shutdown_after_job_finishes():
    assert messages(make_job(**{"spec.suspend": True})) == [
        SPEC_INVALID + "a RayJob with shutdownAfterJobFinishes set to false is not allowed to be suspended"
    ]


def test_ttl_seconds_after_finished_must_not_be_negative():
    job = make_job(**{"spec.shutdownAfterJobFinishes": True, "spec.ttlSecondsAfterFinished": -1})
    assert messages(job) == [SPEC_INVALID + "TTLSecondsAfterFinished must be a non-negative integer"]


def test_ttl_seconds_after_finished_requires_shutdown_after_job_finishes():
    assert messages(make_job(**{"spec.ttlSecondsAfterFinished": 10})) == [
        SPEC_INVALID + "a RayJob with shutdownAfterJobFinishes set to false cannot have TTLSecondsAfterFinished"
    ]


def test_deletion_strategy_requires_the_deletion_policy_feature_gate():
    job = make_job(**{"spec.deletionStrategy": rules(("DeleteCluster", "SUCCEEDED", 0))})
    assert messages(job, feature_gates=frozenset()) == [
        "RayJobDeletionPolicy feature gate must be enabled to use DeletionStrategy"
    ]


def test_deletion_strategy_is_accepted_with_the_default_gates_where_the_gate_is_on():
    assert messages(make_job(**{"spec.deletionStrategy": rules(("DeleteCluster", "SUCCEEDED", 0))})) == []


def test_deletion_rules_and_shutdown_after_job_finishes_are_mutually_exclusive():
    job = make_job(**{"spec.shutdownAfterJobFinishes": True,
                      "spec.deletionStrategy": rules(("DeleteCluster", "SUCCEEDED", 0))})
    assert messages(job) == [
        SPEC_INVALID + "spec.shutdownAfterJobFinishes and spec.deletionStrategy.deletionRules are mutually exclusive"
    ]


def test_deletion_rules_and_legacy_policies_cannot_be_used_together():
    strategy = {**legacy("DeleteCluster", "DeleteCluster"), **rules(("DeleteCluster", "SUCCEEDED", 0))}
    assert messages(make_job(**{"spec.deletionStrategy": strategy})) == [
        SPEC_INVALID + "Cannot use both legacy onSuccess/onFailure fields and deletionRules simultaneously"
    ]


def test_deletion_strategy_needs_legacy_policies_or_deletion_rules():
    assert messages(make_job(**{"spec.deletionStrategy": {}})) == [
        SPEC_INVALID + "DeletionStrategy requires either BOTH onSuccess and onFailure, OR the deletionRules field "
        "(cannot be empty)"
    ]


def test_legacy_policies_need_both_on_success_and_on_failure():
    assert messages(make_job(**{"spec.deletionStrategy": {"onSuccess": {"policy": "DeleteCluster"}}})) == [
        "both DeletionStrategy.OnSuccess and DeletionStrategy.OnFailure must be set when using the legacy deletion "
        "policy fields of DeletionStrategy"
    ]


def test_legacy_policy_must_name_its_deletion_policy_type():
    problems = validate_rayjob(make_job(**{"spec.deletionStrategy": legacy(None, "DeleteCluster")}))
    assert [(p.path, p.message) for p in problems] == [(
        "spec.deletionStrategy.onSuccess.policy",
        "the DeletionPolicyType field of DeletionStrategy.OnSuccess cannot be unset when DeletionStrategy is enabled",
    )]


def test_legacy_delete_cluster_is_not_supported_in_cluster_selector_mode():
    job = make_job(**{"spec.rayClusterSpec": None, "spec.clusterSelector": SELECTOR,
                      "spec.deletionStrategy": legacy("DeleteCluster", "DeleteWorkers")})
    assert messages(job) == [
        "the ClusterSelector mode doesn't support DeletionStrategy=DeleteCluster on success",
        "the ClusterSelector mode doesn't support DeletionStrategy=DeleteWorkers on failure",
    ]


def test_legacy_delete_workers_is_not_supported_with_autoscaling():
    job = make_job(**{"spec.rayClusterSpec.enableInTreeAutoscaling": True,
                      "spec.deletionStrategy": legacy("DeleteWorkers", "DeleteCluster")})
    assert messages(job) == [
        "DeletionStrategy=DeleteWorkers currently does not support RayCluster with autoscaling enabled"
    ]


def test_legacy_delete_none_contradicts_shutdown_after_job_finishes():
    job = make_job(**{"spec.shutdownAfterJobFinishes": True,
                      "spec.deletionStrategy": legacy("DeleteCluster", "DeleteNone")})
    assert messages(job) == [
        SPEC_INVALID + "shutdownAfterJobFinshes is set to 'true' while deletion policy is 'DeleteNone'"
    ]


def test_deletion_rule_condition_cannot_set_both_job_status_and_job_deployment_status():
    strategy = {"deletionRules": [{"policy": "DeleteCluster",
                                   "condition": {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed"}}]}
    problems = validate_rayjob(make_job(**{"spec.deletionStrategy": strategy}))
    assert [(p.path, p.message) for p in problems] == [(
        "spec.deletionStrategy.deletionRules[0].condition",
        "deletionRules[0]: cannot set both JobStatus and JobDeploymentStatus at the same time",
    )]


def test_deletion_rule_condition_needs_job_status_or_job_deployment_status():
    strategy = {"deletionRules": [{"policy": "DeleteCluster", "condition": {"ttlSeconds": 5}}]}
    assert messages(make_job(**{"spec.deletionStrategy": strategy})) == [
        "deletionRules[0]: exactly one of JobStatus and JobDeploymentStatus must be set"
    ]


def test_deletion_rule_ttl_seconds_must_not_be_negative():
    assert messages(make_job(**{"spec.deletionStrategy": rules(("DeleteCluster", "FAILED", -5))})) == [
        "deletionRules[0]: TTLSeconds must be non-negative"
    ]


def test_deletion_rule_delete_cluster_is_not_supported_in_cluster_selector_mode():
    job = make_job(**{"spec.rayClusterSpec": None, "spec.clusterSelector": SELECTOR,
                      "spec.deletionStrategy": rules(("DeleteSelf", "FAILED", 0), ("DeleteCluster", "FAILED", 0))})
    assert messages(job) == [
        "deletionRules[1]: DeletionPolicyType 'DeleteCluster' not supported when ClusterSelector is set"
    ]


def test_deletion_rule_delete_workers_is_not_supported_with_autoscaling():
    job = make_job(**{"spec.rayClusterSpec.enableInTreeAutoscaling": True,
                      "spec.deletionStrategy": rules(("DeleteWorkers", "SUCCEEDED", 0))})
    assert messages(job) == [
        "deletionRules[0]: DeletionPolicyType 'DeleteWorkers' not supported with autoscaling enabled"
    ]


def test_deletion_rules_are_unique_per_job_status_and_policy():
    job = make_job(**{"spec.deletionStrategy": rules(("DeleteCluster", "FAILED", 0), ("DeleteCluster", "FAILED", 9))})
    assert messages(job) == [
        "deletionRules[1]: duplicate rule for DeletionPolicyType 'DeleteCluster' and JobStatus 'FAILED'"
    ]


def test_deletion_rules_are_unique_per_job_deployment_status_and_policy():
    rule = {"policy": "DeleteSelf", "condition": {"jobDeploymentStatus": "Failed"}}
    job = make_job(**{"spec.deletionStrategy": {"deletionRules": [rule, rule]}})
    assert messages(job) == [
        "deletionRules[1]: duplicate rule for DeletionPolicyType 'DeleteSelf' and JobDeploymentStatus 'Failed'"
    ]


def test_deletion_rule_ttls_follow_workers_then_cluster_then_self():
    strategy = rules(("DeleteSelf", "SUCCEEDED", 10), ("DeleteCluster", "SUCCEEDED", 60),
                     ("DeleteWorkers", "SUCCEEDED", 30), ("DeleteCluster", "FAILED", 60))
    problems = validate_rayjob(make_job(**{"spec.deletionStrategy": strategy}))
    assert [(p.path, p.message) for p in problems] == [
        ("spec.deletionStrategy.deletionRules",
         "for JobStatus 'SUCCEEDED': DeleteSelf TTL (10) must be >= DeleteCluster TTL (60)"),
    ]


def test_deletion_rule_ttl_order_is_checked_per_condition():
    strategy = rules(("DeleteCluster", "SUCCEEDED", 60), ("DeleteWorkers", "FAILED", 90))
    assert messages(make_job(**{"spec.deletionStrategy": strategy})) == []


# --- cluster source and submission modes ----------------------------------------------------------------------


def test_cluster_selector_mode_does_not_support_suspend():
    job = make_job(**{"spec.rayClusterSpec": None, "spec.clusterSelector": SELECTOR, "spec.suspend": True,
                      "spec.shutdownAfterJobFinishes": True})
    assert messages(job) == [SPEC_INVALID + "the ClusterSelector mode doesn't support the suspend operation"]


def test_ray_cluster_spec_or_cluster_selector_must_be_set():
    assert messages(make_job(**{"spec.rayClusterSpec": None})) == [
        SPEC_INVALID + "one of RayClusterSpec or ClusterSelector must be set"
    ]


def test_cluster_selector_must_name_the_cluster():
    job = make_job(**{"spec.rayClusterSpec": None, "spec.clusterSelector": {"team": "a"}})
    assert messages(job) == ["cluster name in ClusterSelector should not be empty"]


def test_cluster_selector_is_not_supported_in_sidecar_mode():
    job = make_job(**{"spec.rayClusterSpec": None, "spec.clusterSelector": SELECTOR,
                      "spec.submissionMode": "SidecarMode"})
    assert messages(job) == ["ClusterSelector is not supported in SidecarMode"]


def test_backoff_limit_is_incompatible_with_cluster_selector_mode():
    job = make_job(**{"spec.rayClusterSpec": None, "spec.clusterSelector": SELECTOR, "spec.backoffLimit": 1})
    assert messages(job) == [SPEC_INVALID + "BackoffLimit is incompatible with ClusterSelector mode"]


def test_backoff_limit_is_incompatible_with_interactive_mode():
    job = make_job(**{"spec.submissionMode": "InteractiveMode", "spec.backoffLimit": 2})
    assert messages(job) == [SPEC_INVALID + "BackoffLimit is incompatible with InteractiveMode"]


def test_sidecar_mode_does_not_support_submitter_pod_template():
    job = make_job(**{"spec.submissionMode": "SidecarMode", "spec.submitterPodTemplate": {"spec": {"containers": []}}})
    assert messages(job) == ["Currently, SidecarMode doesn't support SubmitterPodTemplate"]


def test_sidecar_mode_does_not_support_submitter_config():
    job = make_job(**{"spec.submissionMode": "SidecarMode", "spec.submitterConfig": {"backoffLimit": 1}})
    assert messages(job) == ["Currently, SidecarMode doesn't support SubmitterConfig"]


def test_sidecar_mode_needs_a_head_pod_that_is_never_restarted():
    job = make_job(**{"spec.submissionMode": "SidecarMode",
                      "spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy": "Always"})
    problems = validate_rayjob(job)
    assert [(p.path, p.message) for p in problems] == [(
        "spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy",
        "restartPolicy for head Pod should be Never or unset when using SidecarMode",
    )]


# --- the embedded RayCluster spec -----------------------------------------------------------------------------


def test_k8s_token_auth_is_not_supported_for_rayjob():
    job = make_job(**{"spec.rayClusterSpec.rayVersion": "2.55.0",
                      "spec.rayClusterSpec.authOptions": {"mode": "token", "enableK8sTokenAuth": True}})
    assert messages(job) == [SPEC_INVALID + "K8s token auth mode is currently not supported for RayJob"]


def test_ray_cluster_spec_problems_are_prefixed_and_moved_under_ray_cluster_spec():
    job = make_job(**{"spec.rayClusterSpec.workerGroupSpecs.0.minReplicas": 5,
                      "spec.rayClusterSpec.workerGroupSpecs.0.maxReplicas": 2})
    problems = validate_rayjob(job)
    assert [(p.path, p.message) for p in problems] == [(
        "spec.rayClusterSpec.workerGroupSpecs[0].minReplicas",
        SPEC_INVALID + "worker group small-group has minReplicas 5 greater than maxReplicas 2",
    )]


# --- runtimeEnvYAML, deadlines, backoffLimit ------------------------------------------------------------------


def test_runtime_env_yaml_must_decode_into_a_mapping():
    assert messages(make_job(**{"spec.runtimeEnvYAML": "invalid_yaml_str"})) == [
        "failed to unmarshal RuntimeEnvYAML: invalid_yaml_str: error unmarshaling JSON: while decoding JSON: json: "
        "cannot unmarshal string into Go value of type types.RuntimeEnvType"
    ]


def test_runtime_env_yaml_must_be_valid_yaml():
    [msg] = messages(make_job(**{"spec.runtimeEnvYAML": "pip: [a\n"}))
    assert msg.startswith("failed to unmarshal RuntimeEnvYAML: pip: [a\n: error converting YAML to JSON: yaml: ")


def test_active_deadline_seconds_must_be_positive():
    assert messages(make_job(**{"spec.activeDeadlineSeconds": 0})) == [
        SPEC_INVALID + "activeDeadlineSeconds must be a positive integer"
    ]


def test_pre_running_deadline_seconds_must_be_positive():
    assert messages(make_job(**{"spec.preRunningDeadlineSeconds": 0})) == [
        SPEC_INVALID + "preRunningDeadlineSeconds must be a positive integer"
    ]


def test_backoff_limit_must_not_be_negative():
    assert messages(make_job(**{"spec.backoffLimit": -1})) == [SPEC_INVALID + "backoffLimit must be a positive integer"]


# --- status and order -----------------------------------------------------------------------------------------


def test_waiting_is_an_invalid_status_outside_interactive_mode():
    problems = validate_rayjob(make_job(**{"status": {"jobDeploymentStatus": "Waiting"}}))
    assert [(p.path, p.message) for p in problems] == [(
        "status.jobDeploymentStatus",
        "The RayJob status is invalid: JobDeploymentStatus cannot be `Waiting` when SubmissionMode is not "
        "InteractiveMode",
    )]


def test_waiting_is_a_valid_status_in_interactive_mode():
    job = make_job(**{"spec.submissionMode": "InteractiveMode", "status": {"jobDeploymentStatus": "Waiting"}})
    assert messages(job) == []


def test_problems_come_in_kuberays_order_metadata_spec_status():
    job = make_job(**{"metadata.name": "Bad", "spec.backoffLimit": -1, "spec.suspend": True,
                      "status": {"jobDeploymentStatus": "Waiting"}})
    assert [p.path for p in validate_rayjob(job)] == [
        "metadata.name", "spec.suspend", "spec.backoffLimit", "status.jobDeploymentStatus"
    ]
