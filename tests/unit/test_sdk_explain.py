"""Why a cluster is not ready, from pod conditions and events (rayop.sdk.explain): the sentence a timed-out wait
raises instead of a bare TimeoutError."""

from __future__ import annotations

from typing import Any

from rayop.sdk.explain import explain_not_ready, pod_problem, progress_line, warning_events

SCHED = ("0/7 nodes are available: 2 node(s) had untolerated taint {nvidia.com/gpu: present}, 5 Insufficient cpu. "
         "no new claims to deallocate, preemption: 0/7 nodes are available: 2 Preemption is not helpful for "
         "scheduling, 5 No preemption victims found for incoming pod.")


def cluster(state: str | None = None, **status: Any) -> dict[str, Any]:
    st = dict(status)
    if state:
        st["state"] = state
    return {"metadata": {"namespace": "team-a", "name": "mine"},
            "spec": {"workerGroupSpecs": [{"groupName": "g", "replicas": 2}]}, "status": st}


def pod(role: str, phase: str = "Pending", conditions: list[dict[str, Any]] | None = None,
        containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": f"mine-{role}", "labels": {"ray.io/node-type": role}},
            "status": {"phase": phase, "conditions": conditions or [], "containerStatuses": containers or []}}


def unschedulable(role: str) -> dict[str, Any]:
    return pod(role, conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                  "message": SCHED}])


def running_ready(role: str) -> dict[str, Any]:
    return pod(role, "Running", [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}])


def test_unschedulable_workers_are_counted_with_the_schedulers_reason_without_the_preemption_postscript() -> None:
    msg = explain_not_ready(cluster(), [running_ready("head"), unschedulable("worker"), unschedulable("worker")],
                            [], 300)
    assert msg == ("RayCluster team-a/mine is not ready after 300 s: 2 worker pods Unschedulable (0/7 nodes are "
                   "available: 2 node(s) had untolerated taint {nvidia.com/gpu: present}, 5 Insufficient cpu)")


def test_a_head_problem_comes_before_worker_problems() -> None:
    head = pod("head", containers=[{"name": "ray-head", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope:1\""}}}])
    msg = explain_not_ready(cluster(), [unschedulable("worker"), head], [], 10)
    assert msg.split(": ", 1)[1].startswith("1 head pod ImagePullBackOff (container ray-head: Back-off pulling")


def test_a_running_pod_whose_readiness_fails_is_named_not_ready() -> None:
    p = pod("head", "Running", [{"type": "Ready", "status": "False", "message": "containers with unready status"}])
    assert pod_problem(p) == ("NotReady", "containers with unready status")


def test_a_ready_pod_has_no_problem() -> None:
    assert pod_problem(running_ready("worker")) is None


def test_warning_events_of_the_operator_are_included_newest_first_and_once() -> None:
    events = [
        {"type": "Warning", "reason": "FailedCreateWorkerPod", "message": "exceeded quota: q", "lastTimestamp": "2"},
        {"type": "Warning", "reason": "FailedCreateWorkerPod", "message": "exceeded quota: q", "lastTimestamp": "1"},
        {"type": "Normal", "reason": "CreatedWorkerPod", "message": "ok", "lastTimestamp": "3"},
    ]
    assert warning_events(events) == ["FailedCreateWorkerPod: exceeded quota: q"]
    msg = explain_not_ready(cluster(), [running_ready("head")], events, 60)
    assert msg.endswith("after 60 s: FailedCreateWorkerPod: exceeded quota: q")


def test_no_pods_at_all_points_at_the_operator() -> None:
    assert "no pods were created" in explain_not_ready(cluster(), [], [], 30)


def test_a_replica_failure_condition_is_reported() -> None:
    c = cluster(conditions=[{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreateWorkerPod",
                             "message": "pods \"x\" is forbidden"}])
    assert "ReplicaFailure: pods \"x\" is forbidden" in explain_not_ready(c, [running_ready("head")], [], 5)


def test_the_progress_line_shows_state_workers_and_the_worst_problem() -> None:
    line = progress_line(cluster(readyWorkerReplicas=0, desiredWorkerReplicas=2),
                         [running_ready("head"), unschedulable("worker")])
    assert line.startswith("state pending, head ready, workers 0/2 ready - 1 worker pod Unschedulable (0/7 nodes")


def test_a_worker_stuck_in_its_init_container_names_it() -> None:
    p = pod("worker", conditions=[{"type": "PodScheduled", "status": "True"}])
    p["status"]["initContainerStatuses"] = [{"name": "wait-gcs-ready", "ready": False, "state": {"running": {}}}]
    assert pod_problem(p) == ("Initializing", "init container wait-gcs-ready has not finished")
    assert "1 worker pod Initializing (init container wait-gcs-ready has not finished)" in \
        explain_not_ready(cluster(), [running_ready("head"), p], [], 300)
