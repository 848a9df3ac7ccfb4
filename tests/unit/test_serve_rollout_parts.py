"""The rollout's pure helpers: the cluster and serve-config hashes, the capacity check, KubeRay's durations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rayop.api.raycluster import RayClusterSpec
from rayop.serve_rollout.capacity import PodDemand, check, container_requests, node_room
from rayop.serve_rollout.hashing import cluster_hash, prefix_hashes, serve_config_hash
from rayop.serve_rollout.timeouts import initializing_timed_out, initializing_timeout_message, parse_duration

pytestmark = pytest.mark.unit


def spec(**over: Any) -> RayClusterSpec:
    base: dict[str, Any] = {
        "headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray-head", "image": "ray:1"}]}}},
        "workerGroupSpecs": [{"groupName": "g", "replicas": 1, "minReplicas": 1, "maxReplicas": 3, "template": {
            "spec": {"containers": [{"name": "w", "image": "ray:1"}]}}}]}
    return RayClusterSpec.model_validate({**base, **over})


def test_replicas_and_workers_to_delete_do_not_change_the_cluster_hash():
    changed = spec()
    assert changed.worker_group_specs is not None
    changed.worker_group_specs[0].replicas = 3
    wire = changed.to_wire()
    wire["workerGroupSpecs"][0]["scaleStrategy"] = {"workersToDelete": ["p1"]}
    assert cluster_hash(RayClusterSpec.model_validate(wire)) == cluster_hash(spec())


def test_suspend_does_not_change_the_cluster_hash():
    assert cluster_hash(spec(suspend=True)) == cluster_hash(spec())


def test_an_image_change_changes_the_cluster_hash():
    other = spec(headGroupSpec={"template": {"spec": {"containers": [{"name": "ray-head", "image": "ray:2"}]}}})
    assert cluster_hash(other) != cluster_hash(spec())


def test_prefix_hash_of_the_existing_groups_matches_the_old_spec_after_an_append():
    wire = spec().to_wire()
    wire["workerGroupSpecs"].append({**wire["workerGroupSpecs"][0], "groupName": "g2"})
    appended = RayClusterSpec.model_validate(wire)
    assert prefix_hashes(appended)[1] == cluster_hash(spec())
    assert prefix_hashes(appended)[-1] == cluster_hash(appended)


def test_serve_config_hash_follows_the_text_and_none_for_no_config():
    assert serve_config_hash("a: 1") == serve_config_hash("a: 1") != serve_config_hash("a: 2")
    assert serve_config_hash(None) is None and serve_config_hash("") is None


# ---- capacity --------------------------------------------------------------------------------------------------

def node(name: str, cpu: str = "4", memory: str = "8Gi", **extra: Any) -> dict[str, Any]:
    labels = extra.pop("labels", {})
    return {"metadata": {"name": name, "labels": labels}, "spec": extra,
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}}


def pod_using(cpu: str, phase: str = "Running") -> dict[str, Any]:
    return {"spec": {"containers": [{"resources": {"requests": {"cpu": cpu}}}]}, "status": {"phase": phase}}


def test_requests_default_to_limits_and_count_the_pod():
    reqs = container_requests({"containers": [{"resources": {"limits": {"cpu": "2", "nvidia.com/gpu": 1}}},
                                              {"resources": {"requests": {"cpu": "500m"}}}]})
    assert reqs == {"pods": 1.0, "cpu": 2.5, "nvidia.com/gpu": 1.0}


def test_bound_pods_use_up_a_nodes_room_and_finished_ones_do_not():
    room = node_room(node("n1"), [pod_using("3"), pod_using("1", phase="Succeeded")])
    assert room.free["cpu"] == pytest.approx(1.0)


def test_pods_that_fit_are_reported_as_fitting():
    result = check([PodDemand("h", {"cpu": 2.0}), PodDemand("w", {"cpu": 2.0})], [node_room(node("n1"), [])])
    assert result.fits


def test_pods_beyond_the_room_left_do_not_fit_and_are_named():
    result = check([PodDemand("h", {"cpu": 2.0}), PodDemand("w", {"cpu": 3.0})], [node_room(node("n1"), [])])
    assert not result.fits and "pod h (cpu=2, pods=1)" not in result.message and "pod h (cpu=2)" in result.message


def test_gpu_request_does_not_fit_on_gpu_less_nodes():
    result = check([PodDemand("w", {"cpu": 1.0, "nvidia.com/gpu": 1.0})], [node_room(node("n1"), [])])
    assert not result.fits and "nvidia.com/gpu=1" in result.message


def test_node_selector_limits_the_nodes():
    nodes = [node_room(node("n1", labels={"t": "a"}), [])]
    assert not check([PodDemand("w", {"cpu": 1.0}, {"t": "b"})], nodes).fits
    assert check([PodDemand("w", {"cpu": 1.0}, {"t": "a"})], nodes).fits


def test_unschedulable_and_tainted_nodes_take_nothing_unless_tolerated():
    taint = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}
    assert not check([PodDemand("w", {"cpu": 1.0})], [node_room(node("n1", unschedulable=True), [])]).fits
    tainted = [node_room(node("n1", taints=[taint]), [])]
    assert not check([PodDemand("w", {"cpu": 1.0})], tainted).fits
    assert check([PodDemand("w", {"cpu": 1.0}, tolerations=[{"key": "gpu", "operator": "Exists"}])], tainted).fits


# ---- durations ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [("1800", 1800.0), ("30m", 1800.0), ("1h30m", 5400.0),
                                               ("500ms", 0.5), ("1.5h", 5400.0)])
def test_go_durations_and_integer_seconds_parse(text: str, seconds: float):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0", "-5m", "abc", "5 m", "10x", "0s"])
def test_invalid_or_non_positive_durations_are_rejected(text: str):
    assert parse_duration(text) is None


def test_initializing_timeout_fires_only_while_initializing_past_the_timeout():
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    since = now - dt.timedelta(seconds=61)
    assert initializing_timed_out(60, "Initializing", since, now)
    assert not initializing_timed_out(60, "NonZeroServeEndpoints", since, now)
    assert not initializing_timed_out(120, "Initializing", since, now)
    assert not initializing_timed_out(None, "Initializing", since, now)


def test_initializing_timeout_message_is_kuberays():
    assert initializing_timeout_message("1m", 75) == ("RayService failed to become ready within the configured "
                                                      "timeout of 1m. Time spent initializing: 1m15s")
