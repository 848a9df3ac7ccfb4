"""The SDK's pure parts: API errors carry the server's message, specs from a few numbers, scaling requests,
RayJob manifests and verdicts, and the RayService status view (on KubeRay's status shape)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from rayop.api.rayjob import RayJob
from rayop.sdk import errors
from rayop.sdk.jobs import Verdict, job_body
from rayop.sdk.services import lines, summarize
from rayop.sdk.spec import ClusterShape, build_spec, scaled_groups


def status_body(code: int, reason: str, message: str, **details: Any) -> str:
    return json.dumps({"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": message,
                       "details": details})


@pytest.mark.parametrize(("code", "cls"), [(409, errors.Conflict), (422, errors.Invalid), (403, errors.Forbidden),
                                           (401, errors.Unauthorized), (400, errors.Invalid)])
def test_an_api_error_is_its_class_with_the_servers_message(code: int, cls: type[errors.ApiError]) -> None:
    exc = errors.from_response(code, status_body(code, "X", "rayclusters.ray.io \"mine\" already exists",
                                                 name="mine"), "ray.io/v1 rayclusters")
    assert type(exc) is cls and str(exc) == "rayclusters.ray.io \"mine\" already exists" and exc.status == code


def test_a_missing_object_is_not_found_but_a_missing_resource_type_is_crd_missing() -> None:
    gone = errors.from_response(404, status_body(404, "NotFound", "rayclusters.ray.io \"x\" not found", name="x"),
                                "ray.io/v1 rayclusters")
    assert type(gone) is errors.NotFound
    missing = errors.from_response(404, status_body(404, "NotFound", "the server could not find the requested "
                                                    "resource"), "ray.io/v1 rayclusters")
    assert isinstance(missing, errors.CrdMissing)
    assert str(missing).startswith("ray.io/v1 rayclusters is not served by this API server (are the ray.io CRDs")


def test_a_plain_text_error_body_is_kept_as_the_message() -> None:
    assert str(errors.from_response(500, b"etcdserver: request timed out")) == "etcdserver: request timed out"


def test_a_spec_from_a_few_numbers_sizes_the_workers_and_names_the_head_ports() -> None:
    spec = build_spec(ClusterShape(workers=2, cpus=1, memory="1Gi", worker_node_selector={"a": "b"})).to_wire()
    group = spec["workerGroupSpecs"][0]
    assert group["replicas"] == 2 and group["template"]["spec"]["nodeSelector"] == {"a": "b"}
    assert group["template"]["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    ports = spec["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"]
    assert {p["name"]: p["containerPort"] for p in ports} == {"gcs-server": 6379, "dashboard": 8265, "client": 10001}
    assert spec["rayVersion"] == "2.60.0"


def test_scaling_changes_only_the_named_group() -> None:
    spec = {"workerGroupSpecs": [{"groupName": "a", "replicas": 1, "maxReplicas": 5},
                                 {"groupName": "b", "replicas": 1, "maxReplicas": 5}]}
    groups = scaled_groups(spec, "b", 3)
    assert [g["replicas"] for g in groups] == [1, 3]


def test_scaling_beyond_max_replicas_is_refused_with_the_bounds() -> None:
    with pytest.raises(ValueError, match=r"replicas 9 is outside \[0, 5\] of group a"):
        scaled_groups({"workerGroupSpecs": [{"groupName": "a", "replicas": 1, "maxReplicas": 5}]}, None, 9)


def test_scaling_a_multi_group_cluster_needs_a_group_name() -> None:
    with pytest.raises(ValueError, match="several worker groups"):
        scaled_groups({"workerGroupSpecs": [{"groupName": "a"}, {"groupName": "b"}]}, None, 1)


def test_a_job_with_a_working_dir_is_interactive_and_parses_as_a_rayjob() -> None:
    body = job_body("j", "python train.py", cluster=build_spec(ClusterShape()), interactive=True)
    job = RayJob.parse(body)
    assert job.spec.submission_mode == "InteractiveMode" and job.spec.shutdown_after_job_finishes is True
    assert body["spec"]["ttlSecondsAfterFinished"] == 10


def test_a_job_on_an_existing_cluster_selects_it_and_carries_its_runtime_env() -> None:
    body = job_body("j", "python x.py", cluster_name="shared", runtime_env={"env_vars": {"A": "1"}})
    assert body["spec"]["clusterSelector"] == {"ray.io/cluster": "shared"}
    assert yaml.safe_load(body["spec"]["runtimeEnvYAML"]) == {"env_vars": {"A": "1"}}
    assert "shutdownAfterJobFinishes" not in body["spec"]


def test_a_job_needs_exactly_one_cluster_source() -> None:
    with pytest.raises(ValueError):
        job_body("j", "x")


@pytest.mark.parametrize(("job_status", "code"), [("SUCCEEDED", 0), ("FAILED", 1), ("STOPPED", 1)])
def test_the_exit_code_is_zero_only_for_succeeded(job_status: str, code: int) -> None:
    job = RayJob.parse({"metadata": {"name": "j"}, "spec": {}, "status": {
        "jobStatus": job_status, "reason": "AppFailed", "message": "Job entrypoint command failed with exit code 3"}})
    assert Verdict(job).exit_code == code


def test_the_verdict_message_carries_the_jobs_reason_and_message() -> None:
    job = RayJob.parse({"metadata": {"name": "j"}, "spec": {}, "status": {
        "jobStatus": "FAILED", "reason": "AppFailed", "message": "Job entrypoint command failed with exit code 3"}})
    assert Verdict(job).message == "AppFailed: Job entrypoint command failed with exit code 3"


#: A RayService status as KubeRay v1 writes it (fields per /work/shared/reference/kuberay.md §1.4), mid-upgrade.
SERVICE = {
    "metadata": {"namespace": "serve", "name": "fruit"},
    "status": {
        "serviceStatus": "Running",
        "numServeEndpoints": 2,
        "observedGeneration": 3,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "NonZeroServeEndpoints", "message": "",
             "lastTransitionTime": "2026-12-01T10:00:00Z"},
            {"type": "UpgradeInProgress", "status": "True", "reason": "BothActivePendingClustersExist",
             "message": "Both active and pending Ray clusters exist", "lastTransitionTime": "2026-12-01T10:05:00Z"},
        ],
        "activeServiceStatus": {
            "rayClusterName": "fruit-abcde",
            "applicationStatuses": {"fruit_app": {"status": "RUNNING", "serveDeploymentStatuses": {
                "MangoStand": {"status": "HEALTHY"}, "FruitMarket": {"status": "HEALTHY"}}}},
        },
        "pendingServiceStatus": {
            "rayClusterName": "fruit-fghij",
            "applicationStatuses": {"fruit_app": {"status": "DEPLOYING", "message": "Deploying app 'fruit_app'",
                                                  "serveDeploymentStatuses": {"MangoStand": {"status": "UPDATING"}}}},
        },
    },
}


def test_the_service_view_reads_kuberays_status_fields() -> None:
    s = summarize(SERVICE)
    assert (s.service_status, s.ready, s.num_serve_endpoints) == ("Running", True, 2)
    assert (s.active.ray_cluster_name, s.pending.ray_cluster_name) == ("fruit-abcde", "fruit-fghij")
    assert s.active.applications[0].deployments == {"FruitMarket": "HEALTHY", "MangoStand": "HEALTHY"}
    assert s.pending.applications[0].status == "DEPLOYING"
    assert s.to_dict()["pendingServiceStatus"]["applicationStatuses"]["fruit_app"]["message"] == \
        "Deploying app 'fruit_app'"


def test_the_service_view_without_ready_is_not_running() -> None:
    s = summarize({"metadata": {"name": "x"}, "status": {"serviceStatus": ""}})
    assert (s.service_status, s.ready) == ("NotRunning", False)


def test_the_service_lines_show_conditions_and_both_sides() -> None:
    text = "\n".join(lines(summarize(SERVICE)))
    assert text.splitlines()[0] == "RayService serve/fruit: Running, 2 serve endpoints"
    assert "condition UpgradeInProgress=True (BothActivePendingClustersExist)" in text
    assert "pending cluster fruit-fghij\n    app fruit_app: DEPLOYING - Deploying app 'fruit_app'" in text
