"""The generated RayJob CRD installs on the real API server, stores KubeRay's samples unchanged (plus KubeRay's
defaults) and rejects what KubeRay's CRD rejects, with KubeRay's messages.

Objects go to a private namespace: no operator reconciles RayJobs there, so the API server is the only judge.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.rest import ApiException

from rayop.local.controlplane.tools import bin_dir

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"
SAMPLE_FILES = sorted(SAMPLES.glob("ray-job.*.yaml"))
GROUP, PLURAL = "ray.io", "rayjobs"


def _sample(path: Path) -> dict[str, Any]:
    [doc] = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "RayJob"]
    return dict(doc)


BASE = _sample(SAMPLES / "ray-job.sample.yaml")


def _missing(expected: Any, actual: Any, path: str = "spec") -> list[str]:
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


def _job(**spec: Any) -> dict[str, Any]:
    job = copy.deepcopy(BASE)
    job["spec"].update(spec)
    return job


def _rejection(custom: Any, namespace: str, body: dict[str, Any]) -> str:
    """The API server's message for a create it refuses (dry run: nothing is stored either way)."""
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, body, dry_run="All")
    assert info.value.status == 422, info.value.body
    return str(json.loads(info.value.body)["message"])


def _kubectl(control_plane: Any, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir() / "kubectl"), "--kubeconfig", str(control_plane.kubeconfig), *args],
                          input=stdin, check=True, capture_output=True, text=True)


def test_rayjob_crd_is_established_with_v1_stored_and_v1alpha1_deprecated(api_client: Any) -> None:
    from kubernetes import client

    crd = client.ApiextensionsV1Api(api_client).read_custom_resource_definition("rayjobs.ray.io")
    assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    assert [(v.name, v.served, v.storage, bool(v.deprecated)) for v in crd.spec.versions] == [
        ("v1", True, True, False), ("v1alpha1", True, False, True)
    ]
    assert crd.spec.names.categories == ["all"]


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_kuberay_sample_rayjob_is_stored_unchanged(custom: Any, private_namespace: str, path: Path) -> None:
    sample = _sample(path)
    custom.create_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, sample)
    stored = custom.get_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, sample["metadata"]["name"])
    assert _missing(sample["spec"], stored["spec"]) == []


def test_api_server_applies_kuberays_defaults_and_no_others(custom: Any, private_namespace: str) -> None:
    job = _job(deletionStrategy={"deletionRules": [{"policy": "DeleteCluster", "condition": {"jobStatus": "FAILED"}}]})
    created = custom.create_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, job)
    spec = created["spec"]
    assert (spec["submissionMode"], spec["backoffLimit"], spec["ttlSecondsAfterFinished"]) == ("K8sJobMode", 0, 0)
    assert spec["deletionStrategy"]["deletionRules"][0]["condition"]["ttlSeconds"] == 0
    assert "suspend" not in spec and "shutdownAfterJobFinishes" not in spec


def test_status_subresource_stores_every_status_field(custom: Any, private_namespace: str) -> None:
    name = BASE["metadata"]["name"]
    custom.create_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, _job())
    status = {"jobId": "j-1", "rayClusterName": "c-1", "dashboardURL": "c-1-head-svc:8265", "jobStatus": "RUNNING",
              "jobDeploymentStatus": "Running", "startTime": "2026-01-01T00:00:00Z",
              "jobStatusCheckFailureStartTime": "2026-01-01T00:00:30Z",
              "rayJobInfo": {"startTime": "2026-01-01T00:00:01Z"}, "rayClusterStatus": {"state": "ready"}}
    custom.patch_namespaced_custom_object_status(GROUP, "v1", private_namespace, PLURAL, name, {"status": status})
    stored = custom.get_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, name)["status"]
    assert _missing(status, stored, "status") == []
    assert (stored["succeeded"], stored["failed"]) == (0, 0)


def test_kubectl_get_prints_kuberays_columns(control_plane: Any, custom: Any, private_namespace: str) -> None:
    custom.create_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, _job())
    header = _kubectl(control_plane, "get", "rayjobs", "-n", private_namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "JOB", "STATUS", "DEPLOYMENT", "STATUS", "RAY", "CLUSTER", "NAME", "START", "TIME",
                      "END", "TIME", "AGE"]


def test_v1alpha1_is_served_with_a_deprecation_warning(control_plane: Any, private_namespace: str) -> None:
    job = {**_job(), "apiVersion": "ray.io/v1alpha1"}
    out = _kubectl(control_plane, "create", "-n", private_namespace, "--dry-run=server", "-f", "-",
                   stdin=yaml.safe_dump(job))
    assert "ray.io/v1alpha1 RayJob is deprecated" in out.stderr


def test_legacy_policies_and_deletion_rules_together_are_rejected(custom: Any, private_namespace: str) -> None:
    strategy = {"onSuccess": {"policy": "DeleteCluster"}, "onFailure": {"policy": "DeleteCluster"},
                "deletionRules": [{"policy": "DeleteCluster", "condition": {"jobStatus": "FAILED"}}]}
    assert ("legacy policies (onSuccess/onFailure) and deletionRules cannot be used together within the same "
            "deletionStrategy") in _rejection(custom, private_namespace, _job(deletionStrategy=strategy))


@pytest.mark.parametrize("strategy", [{}, {"onSuccess": {"policy": "DeleteCluster"}}], ids=["empty", "only-onSuccess"])
def test_deletion_strategy_needs_both_legacy_policies_or_rules(custom: Any, private_namespace: str,
                                                               strategy: dict[str, Any]) -> None:
    assert ("deletionStrategy requires either BOTH onSuccess and onFailure, OR the deletionRules field (cannot be "
            "empty)") in _rejection(custom, private_namespace, _job(deletionStrategy=strategy))


def test_empty_deletion_rules_are_rejected_by_min_items(custom: Any, private_namespace: str) -> None:
    message = _rejection(custom, private_namespace, _job(deletionStrategy={"deletionRules": []}))
    assert "spec.deletionStrategy.deletionRules: Invalid value: 0: spec.deletionStrategy.deletionRules in body " \
           "should have at least 1 items" in message


def test_deletion_condition_with_both_statuses_is_rejected(custom: Any, private_namespace: str) -> None:
    rule = {"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed"}}
    message = _rejection(custom, private_namespace, _job(deletionStrategy={"deletionRules": [rule]}))
    assert "JobStatus and JobDeploymentStatus cannot be used together within the same deletion condition." in message


def test_deletion_condition_without_a_status_is_rejected(custom: Any, private_namespace: str) -> None:
    rule = {"policy": "DeleteSelf", "condition": {"ttlSeconds": 10}}
    message = _rejection(custom, private_namespace, _job(deletionStrategy={"deletionRules": [rule]}))
    assert "the deletion condition requires either the JobStatus or the JobDeploymentStatus field." in message


@pytest.mark.parametrize(("condition", "field"), [({"jobStatus": "STOPPED"}, "jobStatus"),
                                                  ({"jobDeploymentStatus": "Complete"}, "jobDeploymentStatus")])
def test_deletion_condition_statuses_are_enums(custom: Any, private_namespace: str, condition: dict[str, Any],
                                               field: str) -> None:
    rule = {"policy": "DeleteSelf", "condition": condition}
    message = _rejection(custom, private_namespace, _job(deletionStrategy={"deletionRules": [rule]}))
    assert f"spec.deletionStrategy.deletionRules[0].condition.{field}: Unsupported value" in message


def test_deletion_policy_is_an_enum(custom: Any, private_namespace: str) -> None:
    rule = {"policy": "DeleteEverything", "condition": {"jobStatus": "FAILED"}}
    message = _rejection(custom, private_namespace, _job(deletionStrategy={"deletionRules": [rule]}))
    assert 'spec.deletionStrategy.deletionRules[0].policy: Unsupported value: "DeleteEverything"' in message


def test_deletion_rule_requires_a_policy(custom: Any, private_namespace: str) -> None:
    rule = {"condition": {"jobStatus": "FAILED"}}
    message = _rejection(custom, private_namespace, _job(deletionStrategy={"deletionRules": [rule]}))
    assert "spec.deletionStrategy.deletionRules[0].policy: Required value" in message


def test_negative_deletion_ttl_is_rejected(custom: Any, private_namespace: str) -> None:
    rule = {"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED", "ttlSeconds": -1}}
    message = _rejection(custom, private_namespace, _job(deletionStrategy={"deletionRules": [rule]}))
    assert "spec.deletionStrategy.deletionRules[0].condition.ttlSeconds: Invalid value: -1" in message


def test_pre_running_deadline_must_be_at_least_one_second(custom: Any, private_namespace: str) -> None:
    message = _rejection(custom, private_namespace, _job(preRunningDeadlineSeconds=0))
    assert "spec.preRunningDeadlineSeconds: Invalid value: 0: spec.preRunningDeadlineSeconds in body should be " \
           "greater than or equal to 1" in message


def test_managed_by_accepts_only_kuberay_or_multikueue(custom: Any, private_namespace: str) -> None:
    message = _rejection(custom, private_namespace, _job(managedBy="someone-else"))
    assert ("the managedBy field value must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'"
            in message)


def test_managed_by_is_immutable(custom: Any, private_namespace: str) -> None:
    name = BASE["metadata"]["name"]
    custom.create_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL,
                                           _job(managedBy="ray.io/kuberay-operator"))
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, name,
                                              {"spec": {"managedBy": "kueue.x-k8s.io/multikueue"}})
    assert info.value.status == 422
    assert "the managedBy field is immutable" in json.loads(info.value.body)["message"]


def test_ray_cluster_spec_keeps_the_raycluster_cel_rules(custom: Any, private_namespace: str) -> None:
    job = _job()
    job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].update(minReplicas=5, maxReplicas=2)
    assert "worker group has minReplicas greater than maxReplicas" in _rejection(custom, private_namespace, job)
