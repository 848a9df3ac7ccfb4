"""RayJob on the real control plane with kwok nodes: what it creates, suspend, validation, startup failures and
deletion, none of which needs Ray (kwok heads never answer: their pod IPs are blackholed on this machine)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import wait_for
from tests.support.raycluster import load_sample, wait_ready

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"


def rayjob(name: str = "job", **spec: Any) -> dict[str, Any]:
    cluster = copy.deepcopy(load_sample("ray-cluster.sample.yaml")["spec"])
    cluster["workerGroupSpecs"][0].update(replicas=1, minReplicas=0, maxReplicas=2)
    body: dict[str, Any] = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name},
                            "spec": {"entrypoint": "python -c 'print(1)'", "rayClusterSpec": cluster, **spec}}
    return body


def get_job(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    return dict(custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", name))


def job_status(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    return get_job(custom, namespace, name).get("status") or {}


def create(custom: Any, namespace: str, body: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", body)


def wait_state(custom: Any, namespace: str, name: str, state: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for(lambda: (s := job_status(custom, namespace, name)).get("jobDeploymentStatus") == state and s,
                    timeout=timeout, what=f"RayJob {name} {state}")


def test_a_rayjob_creates_its_cluster_and_submitter_named_and_owned_as_kuberay_does(
        operator: Any, custom: Any, namespace: str, api_client: Any) -> None:
    from kubernetes import client

    create(custom, namespace, rayjob())
    status = wait_state(custom, namespace, "job", "Running", timeout=90)
    cluster_name = status["rayClusterName"]
    assert cluster_name.startswith("job-") and len(cluster_name) == len("job-") + 5
    assert status["jobId"].startswith("job-")
    assert status["dashboardURL"] == f"{cluster_name}-head-svc.{namespace}.svc.cluster.local:8265"
    assert status["startTime"]
    body = get_job(custom, namespace, "job")
    assert "ray.io/rayjob-finalizer" in body["metadata"]["finalizers"]
    cluster = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", cluster_name)
    labels = cluster["metadata"]["labels"]
    assert labels["ray.io/originated-from-cr-name"] == "job"
    assert labels["ray.io/originated-from-crd"] == "RayJob"
    assert cluster["metadata"]["ownerReferences"][0]["kind"] == "RayJob"
    submitter = wait_for(lambda: client.BatchV1Api(api_client).read_namespaced_job("job", namespace), timeout=30,
                         what="submitter Job")
    assert submitter.metadata.owner_references[0].kind == "RayJob"
    assert submitter.spec.backoff_limit == 2


def test_a_rayjob_created_suspended_creates_nothing_until_resumed(
        operator: Any, custom: Any, namespace: str) -> None:
    create(custom, namespace, rayjob(suspend=True, shutdownAfterJobFinishes=True))
    wait_state(custom, namespace, "job", "Suspended")
    assert custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"] == []
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", "job", {"spec": {"suspend": False}})
    status = wait_state(custom, namespace, "job", "Running", timeout=90)
    assert custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", status["rayClusterName"])


def test_suspending_a_running_rayjob_deletes_its_cluster(operator: Any, custom: Any, namespace: str) -> None:
    create(custom, namespace, rayjob(shutdownAfterJobFinishes=True))
    wait_state(custom, namespace, "job", "Running", timeout=90)
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", "job", {"spec": {"suspend": True}})
    status = wait_state(custom, namespace, "job", "Suspended", timeout=60)
    assert status.get("rayClusterName") is None
    wait_for(lambda: custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"] == [],
             timeout=30, what="cluster deleted")


def test_a_spec_that_fails_validation_is_reported_and_recovers_when_fixed(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    create(custom, namespace, rayjob(submissionMode="InteractiveMode", backoffLimit=1))
    status = wait_state(custom, namespace, "job", "ValidationFailed")
    assert status["reason"] == "ValidationFailed"
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.kind=RayJob").items
    assert any(e.reason == "InvalidRayJobSpec" and e.type == "Warning" for e in events)
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", "job", {"spec": {"backoffLimit": 0}})
    wait_state(custom, namespace, "job", "Waiting", timeout=90)  # interactive: waits for spec.jobId


def test_a_head_that_cannot_start_fails_the_rayjob_naming_the_pod(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = rayjob()
    body["metadata"]["annotations"] = {"rayop.io/startup-deadline-seconds": "3"}
    # No node has this label: kube-scheduler marks the head Unschedulable, as it would for a head asking for more
    # than any node has.
    body["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["nodeSelector"] = {"rayop.io/no-such": "x"}
    create(custom, namespace, body)
    status = wait_state(custom, namespace, "job", "Failed", timeout=60)
    head = next(iter(core.list_namespaced_pod(
        namespace, label_selector=f"ray.io/cluster={status['rayClusterName']},ray.io/node-type=head").items))
    assert status["reason"] == "RayClusterStartupFailed"
    assert head.metadata.name in status["message"] and "Unschedulable" in status["message"]


def test_a_cluster_selector_uses_the_existing_cluster_and_leaves_it_alone(
        operator: Any, custom: Any, namespace: str) -> None:
    shared = load_sample("ray-cluster.sample.yaml")
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", shared)
    wait_ready(custom, namespace, shared["metadata"]["name"])
    body = rayjob(clusterSelector={"ray.io/cluster": shared["metadata"]["name"]})
    body["spec"].pop("rayClusterSpec")
    create(custom, namespace, body)
    status = wait_state(custom, namespace, "job", "Running", timeout=60)
    assert status["rayClusterName"] == shared["metadata"]["name"]
    assert len(custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"]) == 1
    custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", "job")
    wait_for(lambda: not custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs")["items"],
             timeout=60, what="RayJob deleted")
    assert custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", shared["metadata"]["name"])


def test_every_kuberay_rayjob_sample_is_accepted(custom: Any, private_namespace: str) -> None:
    for path in sorted(SAMPLES.glob("ray-job.*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RayJob":
                custom.create_namespaced_custom_object("ray.io", "v1", private_namespace, "rayjobs", doc,
                                                       dry_run="All")
