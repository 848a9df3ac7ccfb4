"""The autoscaler's I/O edges without servers: patch shape, resource precedence, pod parsing, GCS proto parsing,
and one pass of the loop against in-memory fakes (fakes stand in for the API server and GCS only here)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from rayop.autoscaler import kube_io
from rayop.autoscaler.loop import LoopConfig, Metrics, run_once
from rayop.autoscaler.ray_gcs import GcsSnapshot, node_is_busy, parse_resource_state
from rayop.autoscaler.state import (
    Decision,
    GroupShape,
    GroupShapeError,
    GroupTarget,
    RayNode,
    group_shapes,
    node_resources,
)

pytestmark = pytest.mark.unit


def group_spec(**kw: Any) -> dict[str, Any]:
    limits = kw.pop("limits", {"cpu": "2", "memory": "4Gi"})
    spec = {"groupName": kw.pop("name", "g"), "minReplicas": 0, "maxReplicas": 5, "replicas": 0,
            "rayStartParams": kw.pop("params", {}),
            "template": {"spec": {"containers": [{"name": "ray", "resources": {"limits": limits}}]}}}
    spec.update(kw)
    return spec


def cluster(*groups: dict[str, Any], **opts: Any) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "rc", "namespace": "ns", "resourceVersion": "42", "uid": "u1"},
            "spec": {"enableInTreeAutoscaling": True, "autoscalerOptions": opts,
                     "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "h"}]}}},
                     "workerGroupSpecs": list(groups)}}


# --- resource-shape precedence ---------------------------------------------------------------------------------


def test_shape_from_container_limits() -> None:
    assert node_resources(group_spec(limits={"cpu": "1500m", "memory": "1Gi", "nvidia.com/gpu": "1"})) == {
        "CPU": 2, "memory": 2**30, "GPU": 1}


def test_shape_falls_back_to_requests_for_cpu() -> None:
    spec = group_spec(limits={})
    spec["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "3"}}
    assert node_resources(spec) == {"CPU": 3}


def test_shape_ray_start_params_beat_container_limits() -> None:
    spec = group_spec(params={"num-cpus": "4", "num-gpus": "2", "memory": "1000",
                              "resources": '"{\\"special\\": 1}"'}, limits={"cpu": "1", "nvidia.com/gpu": "8"})
    assert node_resources(spec) == {"CPU": 4, "GPU": 2, "memory": 1000, "special": 1}


def test_shape_resources_map_beats_ray_start_params_and_limits() -> None:
    spec = group_spec(resources={"CPU": "3", "GPU": "1", "memory": "2Gi", "special": "1"},
                      params={"num-cpus": "8"}, limits={"cpu": "16"})
    assert node_resources(spec) == {"CPU": 3, "GPU": 1, "memory": 2 * 2**30, "special": 1}


def test_shape_resources_map_is_the_only_source_of_custom_resources() -> None:
    spec = group_spec(resources={"CPU": "1"}, params={"resources": '"{\\"ignored\\": 1}"'})
    assert "ignored" not in node_resources(spec)


def test_shape_tpu_from_limits() -> None:
    assert node_resources(group_spec(limits={"cpu": "1", "google.com/tpu": "4"}))["TPU"] == 4


def test_shape_without_cpu_is_an_error() -> None:
    with pytest.raises(GroupShapeError):
        node_resources(group_spec(limits={"memory": "1Gi"}))


def test_group_shapes_read_min_max_hosts_timeouts_priority_wtd() -> None:
    g = group_spec(name="tpu", minReplicas=1, maxReplicas=3, replicas=2, numOfHosts=4, idleTimeoutSeconds=30,
                   priority=7, scaleStrategy={"workersToDelete": ["p1"]})
    (shape,) = group_shapes(cluster(group_spec(name="off", suspend=True), g, idleTimeoutSeconds=90))
    assert (shape.name, shape.index, shape.min_replicas, shape.max_replicas, shape.replicas, shape.num_of_hosts,
            shape.idle_timeout_s, shape.priority, shape.workers_to_delete) == (
        "tpu", 1, 1, 3, 2, 4, 30.0, 7, ("p1",))


def test_group_idle_timeout_defaults_to_cluster_then_60s() -> None:
    assert group_shapes(cluster(group_spec(), idleTimeoutSeconds=90))[0].idle_timeout_s == 90
    assert group_shapes(cluster(group_spec()))[0].idle_timeout_s == 60


# --- the JSON patch ------------------------------------------------------------------------------------------


def _shapes(cr: dict[str, Any]) -> tuple[GroupShape, ...]:
    return group_shapes(cr)


def test_scale_up_patch_is_rv_test_plus_replicas_replace() -> None:
    cr = cluster(group_spec(name="a"), group_spec(name="b"))
    d = Decision(targets={"a": GroupTarget(0), "b": GroupTarget(2)})
    assert kube_io.build_scale_patch(cr, _shapes(cr), d) == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
        {"op": "replace", "path": "/spec/workerGroupSpecs/1/replicas", "value": 2},
    ]


def test_scale_down_patch_has_replicas_and_workers_to_delete_in_one_patch() -> None:
    cr = cluster(group_spec(name="a", replicas=2, scaleStrategy={}))
    d = Decision(targets={"a": GroupTarget(1, ("a-w1",))})
    assert kube_io.build_scale_patch(cr, _shapes(cr), d) == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
        {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 1},
        {"op": "replace", "path": "/spec/workerGroupSpecs/0/scaleStrategy", "value": {"workersToDelete": ["a-w1"]}},
    ]


def test_clear_patch_empties_workers_to_delete() -> None:
    cr = cluster(group_spec(name="a", replicas=1, scaleStrategy={"workersToDelete": ["a-w1"]}))
    d = Decision(targets={"a": GroupTarget(1, ())})
    assert kube_io.build_scale_patch(cr, _shapes(cr), d)[1:] == [
        {"op": "replace", "path": "/spec/workerGroupSpecs/0/scaleStrategy", "value": {"workersToDelete": []}}]


def test_missing_scale_strategy_is_added_not_replaced() -> None:
    cr = cluster(group_spec(name="a", replicas=1))
    d = Decision(targets={"a": GroupTarget(0, ("p",))})
    assert kube_io.build_scale_patch(cr, _shapes(cr), d)[2]["op"] == "add"


def test_no_change_no_patch() -> None:
    cr = cluster(group_spec(name="a", replicas=1))
    assert kube_io.build_scale_patch(cr, _shapes(cr), Decision(targets={"a": GroupTarget(1)})) == []


# --- pods, events, GCS parsing -------------------------------------------------------------------------------


def test_worker_pod_reads_unschedulable_since_and_replica() -> None:
    pod = {"metadata": {"name": "p", "labels": {"ray.io/node-type": "worker", "ray.io/group": "g",
                                                "ray.io/worker-group-replica-name": "g-abc"}},
           "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                      "lastTransitionTime": "1970-01-01T00:01:40Z"}]}}
    wp = kube_io.worker_pod(pod)
    assert wp is not None and (wp.group, wp.replica, wp.unschedulable_since) == ("g", "g-abc", 100.0)
    assert kube_io.worker_pod({"metadata": {"labels": {"ray.io/node-type": "head"}}}) is None


def test_event_targets_the_raycluster() -> None:
    ev = kube_io.build_event(cluster(), "AutoscalerScaleUp", "scaled group gpu 0→2", 0.0)
    assert ev["involvedObject"] == {"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": "rc",
                                    "namespace": "ns", "uid": "u1", "resourceVersion": "42"}
    assert ev["type"] == "Normal" and ev["message"] == "scaled group gpu 0→2"


def test_busy_rules() -> None:
    assert node_is_busy("RUNNING", 0, {"CPU": 1}, {"CPU": 1})
    assert node_is_busy("IDLE", 5000, {"CPU": 2}, {"CPU": 1})  # e.g. a placement-group bundle
    assert not node_is_busy("IDLE", 5000, {"CPU": 1, "object_store_memory": 10}, {"CPU": 1,
                                                                                   "object_store_memory": 5})


def test_parse_cluster_resource_state_proto() -> None:
    autoscaler_pb2 = pytest.importorskip("ray.core.generated.autoscaler_pb2")
    proto = autoscaler_pb2.ClusterResourceState(cluster_session_name="s")
    n = proto.node_states.add(node_id=b"\x01\x02", instance_id="pod-1", ray_node_type_name="cpu",
                              status=autoscaler_pb2.IDLE, idle_duration_ms=7000)
    n.total_resources["CPU"] = 1
    n.available_resources["CPU"] = 1
    proto.node_states.add(node_id=b"\x03", status=autoscaler_pb2.DEAD)
    req = proto.pending_resource_requests.add(count=2)
    req.request.resources_bundle["GPU"] = 1
    gang = proto.pending_gang_resource_requests.add(details="abcd:STRICT_SPREAD|PENDING")
    for _ in range(3):
        gang.requests.add().resources_bundle["CPU"] = 1
    c = proto.cluster_resource_constraints.add().resource_requests.add(count=2)
    c.request.resources_bundle["CPU"] = 1
    snap = parse_resource_state(proto)
    assert [(x.node_id, x.pod_name, x.group, x.idle_s, x.busy) for x in snap.nodes] == [
        ("0102", "pod-1", "cpu", 7.0, False)]
    assert snap.pending_tasks == [{"GPU": 1}, {"GPU": 1}]
    assert snap.placement_groups[0].strategy == "STRICT_SPREAD" and len(snap.placement_groups[0].bundles) == 3
    assert snap.constraints == [{"CPU": 1}, {"CPU": 1}]


# --- one pass with fakes ---------------------------------------------------------------------------------------


class FakeKube:
    def __init__(self, cr: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        self.cr, self.pods = cr, pods
        self.patches: list[Any] = []
        self.events: list[str] = []
        self.annotations: dict[str, str | None] = {}

    async def get_cluster(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.cr))

    async def list_pods(self) -> list[dict[str, Any]]:
        return self.pods

    async def patch_scale(self, patch: list[dict[str, Any]]) -> dict[str, Any]:
        self.patches.append(patch)
        return self.cr

    async def annotate(self, annotations: dict[str, str | None]) -> None:
        self.annotations.update(annotations)
        self.cr["metadata"].setdefault("annotations", {}).update(
            {k: v for k, v in annotations.items() if v is not None})

    async def emit(self, cluster: dict[str, Any], lines: list[str], now: float) -> None:
        self.events.extend(lines)


class FakeGcs:
    def __init__(self, snap: GcsSnapshot, accept: bool = True) -> None:
        self.snap, self.accept, self.drained = snap, accept, []  # type: ignore[var-annotated]

    def resource_state(self) -> GcsSnapshot:
        return self.snap

    def drain_node(self, node_id: str, reason: str, deadline_s: float) -> tuple[bool, str]:
        self.drained.append(node_id)
        return self.accept, "" if self.accept else "node is busy"


def _worker(name: str, group: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"ray.io/node-type": "worker", "ray.io/group": group}}}


def test_pass_drains_then_patches_and_records_the_decision() -> None:
    cr = cluster(group_spec(name="cpu", replicas=1, scaleStrategy={}))
    node = RayNode("n1", "w1", "cpu", {"CPU": 2}, {"CPU": 2}, idle_s=100, status="IDLE")
    kube, gcs = FakeKube(cr, [_worker("w1", "cpu")]), FakeGcs(GcsSnapshot(nodes=[node]))
    asyncio.run(run_once(kube, gcs, LoopConfig(), Metrics(0), now=1000.0))  # type: ignore[arg-type]
    assert gcs.drained == ["n1"]
    assert kube.patches == [[
        {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
        {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 0},
        {"op": "replace", "path": "/spec/workerGroupSpecs/0/scaleStrategy", "value": {"workersToDelete": ["w1"]}}]]
    assert any("removing idle" in e for e in kube.events)
    recorded = json.loads(kube.annotations[kube_io.LAST_DECISION_ANNOTATION] or "{}")
    assert recorded["targets"] == {"cpu": 0}


def test_pass_keeps_node_whose_drain_is_rejected() -> None:
    cr = cluster(group_spec(name="cpu", replicas=1, scaleStrategy={}))
    node = RayNode("n1", "w1", "cpu", {"CPU": 2}, {"CPU": 2}, idle_s=100, status="IDLE")
    kube, gcs = FakeKube(cr, [_worker("w1", "cpu")]), FakeGcs(GcsSnapshot(nodes=[node]), accept=False)
    asyncio.run(run_once(kube, gcs, LoopConfig(), Metrics(0), now=1000.0))  # type: ignore[arg-type]
    assert kube.patches == []


def test_repeated_pass_emits_no_duplicate_events() -> None:
    cr = cluster(group_spec(name="cpu"))
    kube, gcs = FakeKube(cr, []), FakeGcs(GcsSnapshot(pending_tasks=[{"GPU": 1}]))
    for _ in range(2):
        asyncio.run(run_once(kube, gcs, LoopConfig(), Metrics(0), now=1000.0))  # type: ignore[arg-type]
    assert kube.events == ["unsatisfiable: 1 pending task {GPU: 1}: no worker group has nodes that fit"]



def test_a_group_whose_cpu_cannot_be_read_is_reported_once_and_nothing_is_scaled() -> None:
    cr = cluster(group_spec(name="nocpu", limits={"memory": "1Gi"}))
    kube, gcs = FakeKube(cr, []), FakeGcs(GcsSnapshot(pending_tasks=[{"CPU": 1}]))
    for _ in range(2):
        asyncio.run(run_once(kube, gcs, LoopConfig(), Metrics(0), now=1000.0))  # type: ignore[arg-type]
    assert kube.patches == []
    assert len(kube.events) == 1 and kube.events[0].startswith("cannot autoscale: failed to detect CPU")
    assert "group nocpu" in kube.events[0]
    assert kube_io.event_reason(kube.events[0]) == ("AutoscalerInvalidSpec", True)
