"""The operator turns RayClusters into KubeRay's pods and services, on the real control plane with kwok nodes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.helpers import wait_for
from tests.support.raycluster import cluster_pods, get_cluster, load_sample, wait_ready

#: Every RayCluster sample that needs nothing beyond the operator (the Redis one needs GCS fault tolerance work).
READY_SAMPLES = [
    "ray-cluster.sample.yaml",
    "ray-cluster.complete.yaml",
    "ray-cluster.custom-head-service.yaml",
    "ray-cluster.head-command.yaml",
    "ray-cluster.overwrite-command.yaml",
    "ray-cluster.auth.yaml",
    "ray-cluster.autoscaler.yaml",
    "ray-cluster.autoscaler-v2.yaml",
    "ray-cluster.tpu-v4-multihost.yaml",
]



@pytest.mark.parametrize("sample", READY_SAMPLES)
def test_kuberay_sample_reaches_ready_with_the_pods_kuberay_makes(
        operator: Any, custom: Any, core: Any, namespace: str, sample: str) -> None:
    body = load_sample(sample)
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    name = body["metadata"]["name"]
    cluster = wait_ready(custom, namespace, name, timeout=90)
    status = cluster["status"]
    pods = cluster_pods(core, namespace, name)
    heads = [p for p in pods if p.metadata.labels["ray.io/node-type"] == "head"]
    assert len(heads) == 1
    assert len(pods) == status.get("desiredWorkerReplicas", 0) + 1  # omitted when 0, as KubeRay omits it
    assert status["observedGeneration"] == cluster["metadata"]["generation"]
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["RayClusterProvisioned"]["status"] == "True"
    assert conds["HeadPodReady"]["status"] == "True"
    assert status["head"]["podName"] == heads[0].metadata.name
    assert all(ref.controller for p in pods for ref in p.metadata.owner_references)


def test_head_service_is_headless_with_kuberay_name_and_ports(operator: Any, custom: Any, core: Any,
                                                               namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    name = body["metadata"]["name"]
    svc = wait_for(lambda: core.read_namespaced_service(f"{name}-head-svc", namespace), what="head service")
    assert svc.spec.cluster_ip == "None"
    assert {p.name for p in svc.spec.ports} >= {"client", "dashboard", "gcs-server", "metrics"}
    cluster = wait_ready(custom, namespace, name)
    assert cluster["status"]["endpoints"]["dashboard"] == "8265"


def _scale(custom: Any, namespace: str, name: str, group_index: int, **fields: Any) -> None:
    cluster = get_cluster(custom, namespace, name)
    spec = copy.deepcopy(cluster["spec"])
    spec["workerGroupSpecs"][group_index].update(fields)
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name, {"spec": spec})


def _workers(core: Any, namespace: str, name: str) -> list[Any]:
    return [p for p in cluster_pods(core, namespace, name)
            if p.metadata.labels["ray.io/node-type"] == "worker" and not p.metadata.deletion_timestamp]


def test_scale_up_and_down_converges_to_replicas(operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    wait_ready(custom, namespace, name)
    _scale(custom, namespace, name, 0, replicas=4, maxReplicas=10)
    wait_for(lambda: len(_workers(core, namespace, name)) == 4, what="4 workers")
    _scale(custom, namespace, name, 0, replicas=2)
    wait_for(lambda: len(_workers(core, namespace, name)) == 2, what="2 workers")
    cluster = wait_for(lambda: (c := get_cluster(custom, namespace, name))["status"].get(
        "availableWorkerReplicas") == 2 and c, what="status shows 2 workers")
    assert cluster["status"]["desiredWorkerReplicas"] == 2


def test_replicas_are_clamped_to_max_replicas(operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    body["spec"]["workerGroupSpecs"][0].update(replicas=9, minReplicas=1, maxReplicas=3)
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    name = body["metadata"]["name"]
    wait_ready(custom, namespace, name)
    assert len(_workers(core, namespace, name)) == 3


def test_workers_to_delete_removes_the_named_pod_and_a_new_one_replaces_it(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    body["spec"]["workerGroupSpecs"][0].update(replicas=2, maxReplicas=5)
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    wait_ready(custom, namespace, name)
    victim = _workers(core, namespace, name)[0].metadata.name
    _scale(custom, namespace, name, 0, scaleStrategy={"workersToDelete": [victim]})
    wait_for(lambda: victim not in [p.metadata.name for p in _workers(core, namespace, name)]
             and len(_workers(core, namespace, name)) == 2, what="victim replaced")


def test_suspend_deletes_every_pod_then_resume_recreates_them(operator: Any, custom: Any, core: Any,
                                                              namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    wait_ready(custom, namespace, name)
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name, {"spec": {"suspend": True}})
    cluster = wait_for(lambda: (c := get_cluster(custom, namespace, name))["status"].get("state") == "suspended"
                       and c, what="suspended")
    assert cluster_pods(core, namespace, name) == [] or all(
        p.metadata.deletion_timestamp for p in cluster_pods(core, namespace, name))
    conds = {c["type"]: c["status"] for c in cluster["status"]["conditions"]}
    assert conds["RayClusterSuspended"] == "True"
    assert conds.get("RayClusterSuspending") != "True"
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name, {"spec": {"suspend": False}})
    wait_ready(custom, namespace, name)


def test_failed_worker_pod_is_replaced(operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    wait_ready(custom, namespace, name)
    victim = _workers(core, namespace, name)[0]
    core.patch_namespaced_pod_status(victim.metadata.name, namespace, {"status": {"phase": "Failed"}})
    wait_for(lambda: victim.metadata.name not in [p.metadata.name for p in _workers(core, namespace, name)]
             and len(_workers(core, namespace, name)) == 1, what="failed worker replaced")


def test_gpu_worker_group_is_scheduled_only_on_the_gpu_node(operator: Any, custom: Any, core: Any,
                                                           namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    group = body["spec"]["workerGroupSpecs"][0]
    group.update(groupName="gpu", replicas=3, maxReplicas=3)
    group["template"]["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1", "cpu": "1"}}
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    cluster = wait_ready(custom, namespace, name)
    assert {p.spec.node_name for p in _workers(core, namespace, name)} == {"kwok-gpu-0"}
    assert cluster["status"]["desiredGPU"] == "3"


def test_invalid_spec_gets_a_warning_event_and_condition_naming_the_field(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    body["spec"]["workerGroupSpecs"].append(copy.deepcopy(body["spec"]["workerGroupSpecs"][0]))
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    def invalid() -> dict[str, Any] | None:
        cluster = get_cluster(custom, namespace, name)
        conds = (cluster.get("status") or {}).get("conditions", [])
        return cluster if any(c["type"] == "SpecValid" and c["status"] == "False" for c in conds) else None

    cluster = wait_for(invalid, what="SpecValid=False")
    cond = next(c for c in cluster["status"]["conditions"] if c["type"] == "SpecValid")
    assert "workerGroupSpecs" in cond["message"]
    events = wait_for(lambda: [e for e in core.list_namespaced_event(namespace).items
                               if e.reason == "InvalidRayClusterSpec"], what="warning event")
    assert events[0].type == "Warning"
    assert cluster_pods(core, namespace, name) == []


def test_min_replicas_above_max_is_rejected_at_admission(custom: Any, namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    body = load_sample("ray-cluster.sample.yaml")
    body["spec"]["workerGroupSpecs"][0].update(minReplicas=5, maxReplicas=2)
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    assert err.value.status == 422
    assert "minReplicas greater than maxReplicas" in err.value.body


def test_managed_by_another_controller_is_left_alone(operator: Any, custom: Any, core: Any, namespace: str) -> None:
    import time

    body = load_sample("ray-cluster.sample.yaml")
    body["spec"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    time.sleep(3)
    assert cluster_pods(core, namespace, name) == []
    assert "status" not in get_cluster(custom, namespace, name)
