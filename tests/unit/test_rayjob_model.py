"""The RayJob models accept every KubeRay RayJob sample and carry KubeRay's schema: defaults, enums, CEL, columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.api.raycluster import RayClusterSpec
from rayop.api.rayjob import (
    TERMINAL_DEPLOYMENT_STATUSES,
    TERMINAL_JOB_STATUSES,
    DeletionPolicyType,
    JobDeploymentStatus,
    JobFailedReason,
    JobStatus,
    RayJob,
    RayJobSpec,
    RayJobStatus,
    SubmissionMode,
)
from rayop.crdgen import generate
from rayop.crdgen.render import render_crd

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"


def rayjob_samples() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(SAMPLES.glob("ray-job.*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RayJob":
                docs[path.name] = doc
    return docs


def _missing(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Paths present in ``expected`` but absent or different in ``actual``."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path]
        return [m for k, v in expected.items() for m in _missing(v, actual.get(k), f"{path}.{k}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [path]
        pairs = enumerate(zip(expected, actual, strict=True))
        return [m for i, (e, a) in pairs for m in _missing(e, a, f"{path}[{i}]")]
    return [] if expected == actual else [path]


@pytest.fixture(scope="module")
def crd_schema() -> dict[str, Any]:
    crd = render_crd(RayJob, generate.load_k8s_schemas())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_every_kuberay_rayjob_sample_parses():
    jobs = {name: RayJob.parse(doc) for name, doc in rayjob_samples().items()}
    assert len(jobs) == 8
    assert jobs["ray-job.sidecar-mode.yaml"].spec.submission_mode == SubmissionMode.SIDECAR_MODE
    existing = jobs["ray-job.use-existing-raycluster.yaml"]
    assert existing.spec.cluster_selector == {"ray.io/cluster": "ray-cluster-kuberay"}


@pytest.mark.parametrize("name", sorted(rayjob_samples()))
def test_sample_round_trips_through_the_wire_form(name: str):
    doc = rayjob_samples()[name]
    job = RayJob.parse(doc)
    wire = job.to_wire()
    assert _missing(doc, wire) == []
    assert RayJob.parse(wire) == job


def test_ray_cluster_spec_is_the_raycluster_spec_model():
    job = RayJob.parse(rayjob_samples()["ray-job.sample.yaml"])
    assert isinstance(job.spec.ray_cluster_spec, RayClusterSpec)
    assert job.spec.ray_cluster_spec.worker_group_specs[0].group_name == "small-group"


def test_runtime_env_yaml_and_dashboard_url_keep_kuberays_capitals():
    job = RayJob.parse({"spec": {"runtimeEnvYAML": "pip: [x]"}, "status": {"dashboardURL": "h:8265"}})
    assert job.spec.runtime_env_yaml == "pip: [x]"
    assert job.status is not None and job.status.dashboard_url == "h:8265"
    wire = job.to_wire()
    assert wire["spec"]["runtimeEnvYAML"] == "pip: [x]"
    assert wire["status"]["dashboardURL"] == "h:8265"


def test_python_defaults_match_kuberays_spec_defaults():
    spec = RayJobSpec()
    assert (spec.submission_mode, spec.shutdown_after_job_finishes, spec.ttl_seconds_after_finished, spec.suspend) == (
        "K8sJobMode", False, 0, False,
    )
    assert spec.backoff_limit is None
    assert RayJobStatus().succeeded == 0 and RayJobStatus().failed == 0


def test_spec_is_optional_as_in_kuberays_crd(crd_schema: dict[str, Any]):
    assert "required" not in crd_schema
    assert RayJob.parse({"metadata": {"name": "x"}}).spec == RayJobSpec()


def test_crd_defaults_are_kuberays(crd_schema: dict[str, Any]):
    spec = crd_schema["properties"]["spec"]["properties"]
    status = crd_schema["properties"]["status"]["properties"]
    condition = spec["deletionStrategy"]["properties"]["deletionRules"]["items"]["properties"]["condition"]
    assert spec["submissionMode"]["default"] == "K8sJobMode"
    assert spec["backoffLimit"]["default"] == 0
    assert spec["ttlSecondsAfterFinished"]["default"] == 0
    assert condition["properties"]["ttlSeconds"]["default"] == 0
    assert (status["succeeded"]["default"], status["failed"]["default"]) == (0, 0)


def test_plain_bools_have_no_crd_default(crd_schema: dict[str, Any]):
    spec = crd_schema["properties"]["spec"]["properties"]
    assert "default" not in spec["suspend"]
    assert "default" not in spec["shutdownAfterJobFinishes"]


def test_crd_enums_and_minimums_are_kuberays(crd_schema: dict[str, Any]):
    spec = crd_schema["properties"]["spec"]["properties"]
    strategy = spec["deletionStrategy"]["properties"]
    rule = strategy["deletionRules"]["items"]
    policies = ["DeleteCluster", "DeleteWorkers", "DeleteSelf", "DeleteNone"]
    assert rule["properties"]["policy"]["enum"] == policies
    assert strategy["onSuccess"]["properties"]["policy"]["enum"] == policies
    assert rule["properties"]["condition"]["properties"]["jobStatus"]["enum"] == ["SUCCEEDED", "FAILED"]
    assert rule["properties"]["condition"]["properties"]["jobDeploymentStatus"]["enum"] == ["Failed"]
    assert rule["properties"]["condition"]["properties"]["ttlSeconds"]["minimum"] == 0
    assert rule["required"] == ["policy", "condition"]
    assert (strategy["deletionRules"]["minItems"], strategy["deletionRules"]["x-kubernetes-list-type"]) == (1, "atomic")
    assert spec["preRunningDeadlineSeconds"]["minimum"] == 1
    assert "enum" not in spec["submissionMode"]


def test_deletion_cel_rules_carry_kuberays_messages(crd_schema: dict[str, Any]):
    strategy = crd_schema["properties"]["spec"]["properties"]["deletionStrategy"]
    condition = strategy["properties"]["deletionRules"]["items"]["properties"]["condition"]
    assert [r["message"] for r in strategy["x-kubernetes-validations"]] == [
        "legacy policies (onSuccess/onFailure) and deletionRules cannot be used together within the same "
        "deletionStrategy",
        "deletionStrategy requires either BOTH onSuccess and onFailure, OR the deletionRules field (cannot be empty)",
    ]
    assert [r["message"] for r in condition["x-kubernetes-validations"]] == [
        "JobStatus and JobDeploymentStatus cannot be used together within the same deletion condition.",
        "the deletion condition requires either the JobStatus or the JobDeploymentStatus field.",
    ]


def test_managed_by_has_kuberays_cel_rules(crd_schema: dict[str, Any]):
    rules = crd_schema["properties"]["spec"]["properties"]["managedBy"]["x-kubernetes-validations"]
    assert rules == [
        {"rule": "self == oldSelf", "message": "the managedBy field is immutable"},
        {
            "rule": "self in ['ray.io/kuberay-operator', 'kueue.x-k8s.io/multikueue']",
            "message": "the managedBy field value must be either 'ray.io/kuberay-operator' or "
            "'kueue.x-k8s.io/multikueue'",
        },
    ]


def test_crd_info_has_kuberays_names_versions_and_printer_columns():
    info = RayJob.crd
    assert (info.group, info.kind, info.plural, info.versions, info.storage_version, info.deprecated_versions) == (
        "ray.io", "RayJob", "rayjobs", ("v1", "v1alpha1"), "v1", ("v1alpha1",),
    )
    assert [(c.name, c.json_path, c.type) for c in info.printer_columns] == [
        ("job status", ".status.jobStatus", "string"),
        ("deployment status", ".status.jobDeploymentStatus", "string"),
        ("ray cluster name", ".status.rayClusterName", "string"),
        ("start time", ".status.startTime", "string"),
        ("end time", ".status.endTime", "string"),
        ("age", ".metadata.creationTimestamp", "date"),
    ]


def test_enums_carry_kuberays_wire_values():
    assert [s.value for s in JobStatus] == ["", "PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"]
    assert [s.value for s in JobDeploymentStatus] == [
        "", "Initializing", "Running", "Complete", "Failed", "ValidationFailed", "Suspending", "Suspended",
        "Retrying", "Waiting",
    ]
    assert [r.value for r in JobFailedReason] == [
        "SubmissionFailed", "DeadlineExceeded", "PreRunningDeadlineExceeded", "AppFailed",
        "JobDeploymentStatusTransitionGracePeriodExceeded", "JobStatusCheckTimeoutExceeded", "ValidationFailed",
    ]
    assert [m.value for m in SubmissionMode] == ["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]
    assert [p.value for p in DeletionPolicyType] == ["DeleteCluster", "DeleteWorkers", "DeleteSelf", "DeleteNone"]


def test_enum_members_compare_equal_to_the_wire_strings():
    job = RayJob.parse({"spec": {"submissionMode": "HTTPMode"}, "status": {"jobDeploymentStatus": "Waiting"}})
    assert job.spec.submission_mode == SubmissionMode.HTTP_MODE
    assert job.status is not None and job.status.job_deployment_status == JobDeploymentStatus.WAITING


def test_terminal_statuses_are_kuberays():
    assert {"STOPPED", "SUCCEEDED", "FAILED"} == TERMINAL_JOB_STATUSES
    assert {"Complete", "Failed"} == TERMINAL_DEPLOYMENT_STATUSES


def test_status_parses_every_kuberay_field():
    status = RayJobStatus.model_validate({
        "jobId": "j", "rayClusterName": "c", "dashboardURL": "d:8265", "jobStatus": "RUNNING",
        "jobDeploymentStatus": "Running", "reason": "AppFailed", "message": "m", "startTime": "2026-01-01T00:00:00Z",
        "endTime": "2026-01-01T00:01:00Z", "succeeded": 1, "failed": 2, "rayClusterStatus": {"state": "ready"},
        "rayJobInfo": {"startTime": "2026-01-01T00:00:01Z", "endTime": "2026-01-01T00:00:59Z"},
        "jobStatusCheckFailureStartTime": "2026-01-01T00:00:30Z", "observedGeneration": 3,
    })
    assert status.ray_cluster_status is not None and status.ray_cluster_status.state == "ready"
    assert status.ray_job_info is not None and status.ray_job_info.end_time == "2026-01-01T00:00:59Z"
    assert status.job_status_check_failure_start_time == "2026-01-01T00:00:30Z"
    assert (status.succeeded, status.failed, status.observed_generation) == (1, 2, 3)


def test_values_the_crd_rejects_still_parse_so_validation_can_report_them():
    job = RayJob.parse({"spec": {"preRunningDeadlineSeconds": 0, "deletionStrategy": {"deletionRules": [
        {"policy": "DeleteEverything", "condition": {"ttlSeconds": -1}}]}}})
    assert job.spec.pre_running_deadline_seconds == 0
    assert job.spec.deletion_strategy is not None and job.spec.deletion_strategy.deletion_rules is not None
    assert job.spec.deletion_strategy.deletion_rules[0].condition.ttl_seconds == -1


def _walk_properties(schema: dict[str, Any], defs: dict[str, Any], seen: set[str]):
    for name, prop in (schema.get("properties") or {}).items():
        yield name, prop
        refs = [prop.get("$ref")] + [a.get("$ref") for a in prop.get("anyOf", [])]
        refs += [prop.get("items", {}).get("$ref")] + [a.get("items", {}).get("$ref") for a in prop.get("anyOf", [])]
        for ref in filter(None, refs):
            key = ref.split("/")[-1]
            if key not in seen:
                seen.add(key)
                yield from _walk_properties(defs[key], defs, seen)


def test_every_field_has_a_description():
    schema = RayJob.model_json_schema(by_alias=True)
    missing = [n for n, p in _walk_properties(schema, schema["$defs"], set()) if not p.get("description")]
    assert missing == []
