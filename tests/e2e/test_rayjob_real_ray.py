"""RayJob on real Ray: clusters on the local node, the submitter a real process, job status read from Ray's own job
API. What a CI pipeline relies on: one verdict (SUCCEEDED or FAILED with a reason), every time, never twice."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import wait_for
from tests.support.raycluster import wait_ready

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "04-rayjob-local" / "rayjob.yaml"
SHARED = ROOT / "examples" / "01-raycluster-local" / "raycluster.yaml"


def example(name: str | None = None, **spec: Any) -> dict[str, Any]:
    body = yaml.safe_load(EXAMPLE.read_text())
    if name:
        body["metadata"]["name"] = name
    body["spec"].update(spec)
    return body


def status_of(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    obj = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", name)
    return dict(obj.get("status") or {})


def wait_final(custom: Any, namespace: str, name: str, timeout: float = 400) -> dict[str, Any]:
    status: dict[str, Any] = wait_for(lambda: (s := status_of(custom, namespace, name)).get("jobDeploymentStatus")
                                      in ("Complete", "Failed") and s, timeout=timeout, interval=0.5,
                                      what=f"RayJob {name} finished")
    print(f"RayJob {name}: {json.dumps({k: v for k, v in status.items() if k != 'rayClusterStatus'})}")
    return status


def submitter_logs(core: Any, namespace: str, name: str) -> str:
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    return "".join(core.read_namespaced_pod_log(p.metadata.name, namespace) for p in pods)


def jobs_api(head_ip: str, path: str = "", body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{head_ip}:8265/api/jobs/{path}", data=data,
                                 method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture(scope="module")
def shared_cluster(operator: Any, local_node: Any, api_client: Any) -> Iterator[tuple[str, str, str]]:
    """One real cluster (example 01) that the clusterSelector tests share: (namespace, name, head IP)."""
    from kubernetes import client

    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    namespace = f"t-rayjob-shared-{int(time.time())}"
    core.create_namespace({"metadata": {"name": namespace}})
    body = yaml.safe_load(SHARED.read_text())
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    cluster = wait_ready(custom, namespace, body["metadata"]["name"], timeout=300)
    yield namespace, body["metadata"]["name"], cluster["status"]["head"]["podIP"]
    core.delete_namespace(namespace)


@pytest.mark.timeout(600)
def test_the_example_job_succeeds_its_logs_are_the_submitters_and_its_cluster_goes_after_the_ttl(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    started = time.monotonic()
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", example())
    status = wait_final(custom, namespace, "pi-local")
    print(f"apply -> {status['jobDeploymentStatus']} in {time.monotonic() - started:.1f} s")
    assert (status["jobDeploymentStatus"], status["jobStatus"]) == ("Complete", "SUCCEEDED"), submitter_logs(
        core, namespace, "pi-local")
    assert status["succeeded"] == 1 and status.get("rayJobInfo", {}).get("endTime")
    assert "pi is about" in submitter_logs(core, namespace, "pi-local")
    wait_for(lambda: not custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"],
             timeout=60, what="cluster deleted after ttlSecondsAfterFinished")


@pytest.mark.timeout(900)
def test_a_failing_entrypoint_fails_with_app_failed_after_one_retry_on_a_new_cluster(
        operator: Any, local_node: Any, custom: Any, namespace: str) -> None:
    body = example("fails", entrypoint="python -c 'import sys; print(\"failing\"); sys.exit(3)'", backoffLimit=1)
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", body)
    clusters: set[str] = set()

    def done() -> dict[str, Any] | None:
        s = status_of(custom, namespace, "fails")
        if s.get("rayClusterName"):
            clusters.add(s["rayClusterName"])
        return s if s.get("jobDeploymentStatus") == "Failed" else None

    status = wait_for(done, timeout=800, interval=0.5, what="RayJob failed for good")
    assert status["reason"] == "AppFailed" and status["jobStatus"] == "FAILED"
    assert status["failed"] == 2
    assert len(clusters) == 2  # each attempt on a fresh cluster


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", ["HTTPMode", "SidecarMode"])
def test_http_and_sidecar_modes_succeed(operator: Any, local_node: Any, custom: Any, namespace: str,
                                        mode: str) -> None:
    body = example(mode.lower(), submissionMode=mode)
    body["spec"].pop("submitterPodTemplate")
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", body)
    status = wait_final(custom, namespace, mode.lower())
    assert (status["jobDeploymentStatus"], status["jobStatus"]) == ("Complete", "SUCCEEDED"), status


@pytest.mark.timeout(600)
def test_interactive_mode_waits_then_completes_the_job_submitted_by_hand(
        operator: Any, local_node: Any, custom: Any, namespace: str) -> None:
    body = example("interactive", submissionMode="InteractiveMode")
    body["spec"].pop("submitterPodTemplate")
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", body)
    status = wait_for(lambda: (s := status_of(custom, namespace, "interactive")).get("jobDeploymentStatus")
                      == "Waiting" and s, timeout=300, what="Waiting")
    cluster = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", status["rayClusterName"])
    head_ip = cluster["status"]["head"]["podIP"]
    jobs_api(head_ip, body={"entrypoint": "python -c 'print(42)'", "submission_id": "by-hand"})
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", "interactive",
                                          {"spec": {"jobId": "by-hand"}})
    status = wait_final(custom, namespace, "interactive")
    assert (status["jobDeploymentStatus"], status["jobStatus"], status["jobId"]) == (
        "Complete", "SUCCEEDED", "by-hand")


def _selector_job(name: str, cluster: str, **spec: Any) -> dict[str, Any]:
    body = example(name, submissionMode="HTTPMode", clusterSelector={"ray.io/cluster": cluster}, **spec)
    for key in ("rayClusterSpec", "submitterPodTemplate", "shutdownAfterJobFinishes", "ttlSecondsAfterFinished"):
        body["spec"].pop(key, None)
    return body


@pytest.mark.timeout(400)
def test_a_cluster_selector_job_runs_on_the_existing_cluster_and_leaves_it(
        shared_cluster: tuple[str, str, str], custom: Any) -> None:
    namespace, cluster, _ = shared_cluster
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", _selector_job("on-shared", cluster))
    status = wait_final(custom, namespace, "on-shared")
    assert (status["jobDeploymentStatus"], status["rayClusterName"]) == ("Complete", cluster)
    assert len(custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"]) == 1


@pytest.mark.timeout(400)
def test_the_active_deadline_fails_a_sleeping_job_and_stops_it(
        shared_cluster: tuple[str, str, str], custom: Any) -> None:
    namespace, cluster, head_ip = shared_cluster
    body = _selector_job("sleeper", cluster, entrypoint="python -c 'import time; time.sleep(600)'",
                         activeDeadlineSeconds=25)
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", body)
    status = wait_final(custom, namespace, "sleeper", timeout=200)
    assert (status["jobDeploymentStatus"], status["reason"]) == ("Failed", "DeadlineExceeded")
    wait_for(lambda: jobs_api(head_ip, status["jobId"])["status"] == "STOPPED", timeout=60, what="Ray job stopped")


@pytest.mark.timeout(400)
def test_deleting_a_running_rayjob_stops_its_ray_job(shared_cluster: tuple[str, str, str], custom: Any) -> None:
    namespace, cluster, head_ip = shared_cluster
    body = _selector_job("deleted", cluster, entrypoint="python -c 'import time; time.sleep(600)'")
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", body)
    status = wait_for(lambda: (s := status_of(custom, namespace, "deleted")).get("jobStatus") == "RUNNING" and s,
                      timeout=200, what="Ray job running")
    custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", "deleted")
    wait_for(lambda: jobs_api(head_ip, status["jobId"])["status"] == "STOPPED", timeout=60, what="Ray job stopped")
    wait_for(lambda: not [j for j in custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs")[
        "items"] if j["metadata"]["name"] == "deleted"], timeout=60, what="RayJob gone")


@pytest.mark.timeout(600)
def test_deletion_rules_delete_the_workers_then_the_cluster_after_their_ttls(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    body = example("rules", shutdownAfterJobFinishes=False, deletionStrategy={"deletionRules": [
        {"policy": "DeleteWorkers", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}},
        {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 15}}]})
    body["spec"].pop("ttlSecondsAfterFinished")
    head = body["spec"]["rayClusterSpec"]["headGroupSpec"]
    body["spec"]["rayClusterSpec"]["workerGroupSpecs"] = [{
        "groupName": "cpu", "replicas": 1, "minReplicas": 0, "maxReplicas": 1,
        "rayStartParams": {"num-cpus": "1", "object-store-memory": "80000000"},
        "template": {"spec": {"nodeSelector": head["template"]["spec"]["nodeSelector"], "containers": [
            {"name": "ray-worker", "image": "rayproject/ray:2.60.0",
             "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}}]}},
    }]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", body)
    status = wait_final(custom, namespace, "rules")
    assert status["jobStatus"] == "SUCCEEDED"
    cluster = status["rayClusterName"]
    ended = time.monotonic()

    def workers() -> list[Any]:
        return [p for p in core.list_namespaced_pod(namespace, label_selector=f"ray.io/cluster={cluster}").items
                if p.metadata.labels["ray.io/node-type"] == "worker" and not p.metadata.deletion_timestamp]

    wait_for(lambda: not workers(), timeout=60, what="workers deleted (DeleteWorkers, ttl 0)")
    groups = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", cluster)["spec"][
        "workerGroupSpecs"]
    assert all(g.get("suspend") for g in groups)
    assert time.monotonic() - ended < 15  # the cluster is still there before its rule's ttl
    assert custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", cluster)
    wait_for(lambda: not custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"],
             timeout=60, what="cluster deleted (DeleteCluster, ttl 15)")
    print(f"cluster gone {time.monotonic() - ended:.1f} s after the job ended (rule ttl 15 s)")
    assert time.monotonic() - ended >= 13  # not before its ttl (endTime has whole seconds)
