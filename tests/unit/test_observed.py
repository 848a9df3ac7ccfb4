"""PodView.from_pod and should_delete: the facts reconciliation reads from a cached pod (KubeRay §2.6 item 7)."""

from __future__ import annotations

from typing import Any

import pytest

from rayop.operator.raycluster.observed import PodView


def pod(
    name: str = "rc-worker-abcde",
    *,
    node_type: str = "worker",
    group: str = "small",
    phase: str | None = "Running",
    ready: bool | None = True,
    ready_reason: str | None = None,
    ready_message: str | None = None,
    restart_policy: str | None = "Always",
    container_states: list[tuple[str, dict[str, Any]]] | None = None,
    containers: tuple[str, ...] = ("ray-worker",),
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    deleting: bool = False,
    pod_ip: str | None = None,
) -> dict[str, Any]:
    """A pod as the watch cache holds it, with only the fields PodView reads."""
    meta: dict[str, Any] = {
        "name": name, "uid": f"uid-{name}", "creationTimestamp": "2024-01-01T00:00:00Z",
        "labels": {"ray.io/cluster": "rc", "ray.io/node-type": node_type, "ray.io/group": group, **(labels or {})},
        "annotations": annotations or {},
    }
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:01:00Z"
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "ray"} for c in containers]}
    if restart_policy is not None:
        spec["restartPolicy"] = restart_policy
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
    if ready is not None:
        cond: dict[str, Any] = {"type": "Ready", "status": "True" if ready else "False"}
        if ready_reason:
            cond["reason"] = ready_reason
        if ready_message:
            cond["message"] = ready_message
        status["conditions"] = [{"type": "PodScheduled", "status": "True"}, cond]
    if container_states is not None:
        status["containerStatuses"] = [{"name": n, "state": st} for n, st in container_states]
    if pod_ip:
        status["podIP"] = pod_ip
    return {"metadata": meta, "spec": spec, "status": status}


def view(**kw: Any) -> PodView:
    return PodView.from_pod(pod(**kw))


# --- from_pod ------------------------------------------------------------------------------------------------


def test_reads_identity_and_ray_labels() -> None:
    v = view(name="rc-head-x1", node_type="head", group="headgroup", pod_ip="10.0.0.5")
    assert (v.name, v.uid, v.node_type, v.group, v.pod_ip) == ("rc-head-x1", "uid-rc-head-x1", "head", "headgroup",
                                                                "10.0.0.5")
    assert v.created == "2024-01-01T00:00:00Z"


def test_ready_comes_from_the_ready_condition_only() -> None:
    assert view(ready=True).ready
    assert not view(ready=False).ready
    assert not view(ready=None).ready


def test_running_and_ready_needs_both_phase_running_and_ready_condition() -> None:
    assert view(phase="Running", ready=True).running_and_ready
    assert not view(phase="Pending", ready=True).running_and_ready
    assert not view(phase="Running", ready=False).running_and_ready


def test_pod_without_status_is_pending_and_not_ready() -> None:
    v = PodView.from_pod({"metadata": {"name": "p", "labels": {}}, "spec": {}})
    assert (v.phase, v.ready, v.restart_policy, v.node_type, v.group) == ("Pending", False, "Always", "", "")


def test_null_status_is_treated_as_empty() -> None:
    v = PodView.from_pod({"metadata": {"name": "p", "labels": None, "annotations": None}, "spec": {}, "status": None})
    assert v.phase == "Pending" and v.replica_name is None


def test_deletion_timestamp_marks_the_pod_deleting() -> None:
    assert view(deleting=True).deleting
    assert not view().deleting


def test_multihost_labels_are_parsed_as_integers() -> None:
    v = view(labels={"ray.io/worker-group-replica-name": "tpu-abcde", "ray.io/worker-group-replica-index": "2",
                     "ray.io/replica-host-index": "3"})
    assert (v.replica_name, v.replica_index, v.host_index) == ("tpu-abcde", 2, 3)


def test_malformed_replica_index_labels_become_none() -> None:
    v = view(labels={"ray.io/worker-group-replica-index": "two", "ray.io/replica-host-index": ""})
    assert v.replica_index is None and v.host_index is None


def test_single_host_pod_has_no_replica_slot() -> None:
    v = view()
    assert (v.replica_name, v.replica_index, v.host_index) == (None, None, None)


def test_recreate_hash_is_read_from_the_annotation() -> None:
    assert view(annotations={"ray.io/upgrade-strategy-recreate-hash": "H1"}).recreate_hash == "H1"
    assert view().recreate_hash is None


def test_ray_container_terminated_matches_the_first_container_by_name() -> None:
    v = view(containers=("ray-worker", "sidecar"),
             container_states=[("sidecar", {"running": {}}), ("ray-worker", {"terminated": {"exitCode": 1}})])
    assert v.ray_container_terminated


def test_terminated_sidecar_does_not_count_as_ray_container_terminated() -> None:
    v = view(containers=("ray-worker", "sidecar"),
             container_states=[("ray-worker", {"running": {}}), ("sidecar", {"terminated": {"exitCode": 0}})])
    assert not v.ray_container_terminated


def test_waiting_reason_is_the_first_waiting_or_terminated_container_reason() -> None:
    v = view(containers=("ray-worker", "sidecar"),
             container_states=[("ray-worker", {"running": {}}),
                               ("sidecar", {"waiting": {"reason": "ImagePullBackOff", "message": "no image"}})])
    assert v.waiting_reason == "ImagePullBackOff"
    v = view(container_states=[("ray-worker", {"terminated": {"reason": "OOMKilled"}})])
    assert v.waiting_reason == "OOMKilled"


def test_container_details_name_every_stopped_container_like_kuberay() -> None:
    v = view(containers=("ray-head", "sidecar"),
             container_states=[("ray-head", {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}),
                               ("sidecar", {"terminated": {"reason": "Error", "message": "exit 1"}})])
    assert v.container_details == "ray-head: CrashLoopBackOff: back-off, sidecar: Error: exit 1"


def test_running_containers_have_no_details() -> None:
    assert view(container_states=[("ray-worker", {"running": {"startedAt": "x"}})]).container_details == ""


def test_ready_condition_reason_and_message_are_kept() -> None:
    v = view(ready=False, ready_reason="ContainersNotReady", ready_message="containers with unready status: [x]")
    assert (v.ready_reason, v.ready_message) == ("ContainersNotReady", "containers with unready status: [x]")


# --- should_delete (KubeRay's shouldDeletePod) ----------------------------------------------------------------


@pytest.mark.parametrize("phase", ["Failed", "Succeeded"])
@pytest.mark.parametrize("policy", ["Always", "OnFailure", "Never"])
def test_finished_pods_are_deleted_whatever_their_restart_policy(phase: str, policy: str) -> None:
    assert view(phase=phase, ready=False, restart_policy=policy).should_delete()


def test_running_pod_whose_ray_container_died_with_restart_policy_never_is_deleted() -> None:
    v = view(restart_policy="Never", container_states=[("ray-worker", {"terminated": {"exitCode": 1}})])
    assert v.should_delete()


@pytest.mark.parametrize("policy", ["Always", "OnFailure"])
def test_dead_ray_container_that_kubelet_restarts_is_kept(policy: str) -> None:
    v = view(restart_policy=policy, container_states=[("ray-worker", {"terminated": {"exitCode": 1}})])
    assert not v.should_delete()


def test_missing_restart_policy_defaults_to_always_and_keeps_the_pod() -> None:
    v = view(restart_policy=None, container_states=[("ray-worker", {"terminated": {"exitCode": 1}})])
    assert v.restart_policy == "Always" and not v.should_delete()


@pytest.mark.parametrize("phase", ["Pending", "Running", "Unknown"])
def test_healthy_or_pending_pods_are_kept(phase: str) -> None:
    v = view(phase=phase, restart_policy="Never", container_states=[("ray-worker", {"running": {}})])
    assert not v.should_delete()


def test_pending_pod_with_terminated_ray_container_is_kept() -> None:
    v = view(phase="Pending", restart_policy="Never", container_states=[("ray-worker", {"terminated": {}})])
    assert not v.should_delete()


def test_describe_names_phase_policy_and_container_state() -> None:
    assert view(phase="Failed", restart_policy="Never").describe() == (
        "Pod status: Failed; Pod restart policy: Never; Ray container terminated status: False")


def test_slim_pod_keeps_everything_pod_view_reads() -> None:
    from rayop.operator.raycluster.observed import slim_pod

    full = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"ray.io/node-type": "worker",
                     "ray.io/group": "g", "ray.io/cluster": "c"}, "annotations": {"a": "b"},
                     "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": [{"x": 1}]},
        "spec": {"containers": [{"name": "ray-worker", "env": [{"name": "X", "value": "1"}]}, {"name": "side"}],
                 "restartPolicy": "Never", "volumes": [{"name": "v"}]},
        "status": {"phase": "Running", "podIP": "1.2.3.4",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "ray-worker", "state": {"terminated": {"reason": "Error"}}}]},
    }
    assert PodView.from_pod(slim_pod(full)) == PodView.from_pod(full)
    assert "volumes" not in slim_pod(full)["spec"] and "managedFields" not in slim_pod(full)["metadata"]
