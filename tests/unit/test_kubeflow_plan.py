"""The engine's pure parts: the condition algebra, a pass's decisions (restarts, limits, success), the gang fit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rayop.operator.kubeflow import conditions as cond
from rayop.operator.kubeflow import gang
from rayop.operator.kubeflow.plan import Options, plan_job
from rayop.operator.kubeflow.pods import build_pod
from rayop.operator.kubeflow.tf import TensorFlow
from rayop.operator.kubeflow.xgboost import XGBoost
from tests.unit.kubeflow_fixtures import body, replica, view

TF, XGB = TensorFlow(), XGBoost()
NOW = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)


def types(conds: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["type"], c["status"]) for c in conds]


def test_running_replaces_restarting_and_back() -> None:
    c = cond.update([], "Restarting", "R", "m", "t0")
    c = cond.update(c, "Running", "R", "m", "t1")
    assert types(c) == [("Running", "True")]
    assert types(cond.update(c, "Restarting", "R", "m", "t2")) == [("Restarting", "True")]


def test_succeeded_turns_running_false() -> None:
    c = cond.update(cond.update([], "Created", "C", "m", "t0"), "Running", "R", "m", "t1")
    assert types(cond.update(c, "Succeeded", "S", "m", "t2")) == [("Created", "True"), ("Running", "False"),
                                                                  ("Succeeded", "True")]


def test_nothing_is_added_after_failed() -> None:
    c = cond.update([], "Failed", "F", "m", "t0")
    assert cond.update(c, "Running", "R", "m", "t1") == c


def test_same_status_keeps_the_transition_time() -> None:
    c = cond.update([], "Running", "A", "m", "t0")
    assert cond.update(c, "Running", "B", "m", "t1")[-1]["lastTransitionTime"] == "t0"


def pod(fw: Any, job: Any, rtype: str, index: int, phase: str, exit_code: int | None = None,
        container: str = "tensorflow") -> dict[str, Any]:
    p = build_pod(fw, job, rtype, index)
    p["metadata"].update(uid=f"u-{rtype}-{index}", ownerReferences=[{"controller": True, "uid": "uid-1"}])
    p["status"] = {"phase": phase}
    if exit_code is not None:
        p["status"]["containerStatuses"] = [{"name": container, "state": {"terminated": {"exitCode": exit_code}}}]
    return p


def tf_two_workers(restart: str = "ExitCode", **run_policy: Any) -> Any:
    return view(TF, body(TF, {"Worker": replica("tensorflow", 2, restart=restart)}, name="j",
                         runPolicy=run_policy))


def test_a_new_job_creates_every_pod_behind_the_gang_gate_and_is_created() -> None:
    job = tf_two_workers()
    plan = plan_job(TF, job, [], {}, NOW, Options())
    assert [p["metadata"]["name"] for _, p in plan.create_pods] == ["j-worker-0", "j-worker-1"]
    assert all(p["spec"]["schedulingGates"] == [{"name": "rayop.io/gang"}] for _, p in plan.create_pods)
    assert [s["metadata"]["name"] for s in plan.create_services] == ["j-worker-0", "j-worker-1"]
    assert types(plan.status["conditions"]) == [("Created", "True")]
    assert not plan.complete


def test_exit_137_under_exit_code_deletes_the_pod_and_restarts_the_job() -> None:
    job = tf_two_workers()
    pods = [pod(TF, job, "Worker", 0, "Running"), pod(TF, job, "Worker", 1, "Failed", 137)]
    plan = plan_job(TF, job, pods, {}, NOW, Options())
    assert [p["metadata"]["name"] for _, p in plan.delete_pods] == ["j-worker-1"]
    assert plan.count_replacements == [("j-worker-1", 1)]
    assert plan.status["conditions"][-1]["type"] == "Restarting"


def test_exit_1_under_exit_code_fails_the_job_with_the_upstream_message() -> None:
    job = tf_two_workers()
    pods = [pod(TF, job, "Worker", 0, "Running"), pod(TF, job, "Worker", 1, "Failed", 1)]
    plan = plan_job(TF, job, pods, {}, NOW, Options())
    assert plan.delete_pods == []
    last = plan.status["conditions"][-1]
    assert (last["type"], last["reason"], last["message"]) == (
        "Failed", "TFJobFailed", "TFJob ns/j has failed because 1 Worker replica(s) failed.")


def test_worker_0_completing_succeeds_a_tfjob_without_chief() -> None:
    job = tf_two_workers()
    pods = [pod(TF, job, "Worker", 0, "Succeeded", 0), pod(TF, job, "Worker", 1, "Running")]
    plan = plan_job(TF, job, pods, {}, NOW, Options())
    assert plan.status["conditions"][-1]["message"] == "TFJob ns/j successfully completed."
    assert plan.status["completionTime"] == "2026-12-02T05:00:00Z"


def test_the_backoff_limit_fails_the_job_instead_of_another_recreation() -> None:
    job = tf_two_workers(restart="OnFailure", backoffLimit=1)
    svc = {"j-worker-1": {"metadata": {"name": "j-worker-1", "annotations": {"rayop.io/replacements": "1"}}}}
    pods = [pod(TF, job, "Worker", 0, "Running"), pod(TF, job, "Worker", 1, "Failed", 1)]
    plan = plan_job(TF, job, pods, svc, NOW, Options())
    assert plan.status["conditions"][-1]["message"] == (
        "Job j has failed because it has reached the specified backoff limit")
    assert {p["metadata"]["name"] for _, p in plan.delete_pods} == {"j-worker-0", "j-worker-1"}


def test_the_active_deadline_fails_the_job() -> None:
    b = body(TF, {"Worker": replica("tensorflow", 1)}, name="j", runPolicy={"activeDeadlineSeconds": 10})
    b["status"] = {"startTime": "2026-12-02T04:59:00Z", "conditions": []}
    plan = plan_job(TF, view(TF, b), [], {}, NOW, Options())
    assert plan.status["conditions"][-1]["message"] == (
        "Job j has failed because it was active longer than specified deadline")


def test_a_finished_job_is_deleted_after_its_ttl() -> None:
    b = body(XGB, {"Master": replica("xgboost", 1)}, name="x", runPolicy={"ttlSecondsAfterFinished": 30})
    b["status"] = {"completionTime": "2026-12-02T04:59:00Z",
                   "conditions": [{"type": "Succeeded", "status": "True", "reason": "XGBoostJobSucceeded"}]}
    assert plan_job(XGB, view(XGB, b), [], {}, NOW, Options()).delete_job


def test_suspending_deletes_every_pod_and_sets_suspended() -> None:
    b = body(XGB, {"Master": replica("xgboost", 1)}, name="x", runPolicy={"suspend": True})
    job = view(XGB, b)
    plan = plan_job(XGB, job, [pod(XGB, job, "Master", 0, "Running", container="xgboost")], {}, NOW, Options())
    assert [p["metadata"]["name"] for _, p in plan.delete_pods] == ["x-master-0"]
    assert plan.status["conditions"][-1]["type"] == "Suspended"


def node(name: str, gpus: int, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "spec": {},
            "status": {"allocatable": {"cpu": "32", "memory": "64Gi", "pods": "110", "nvidia.com/gpu": str(gpus)}}}


def gpu_pod(name: str, gpus: int, node_name: str | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "n"},
            "spec": {"nodeName": node_name, "containers": [{"resources": {"limits": {"nvidia.com/gpu": gpus}}}]},
            "status": {"phase": "Running" if node_name else "Pending"}}


def test_a_gang_that_fits_only_partly_does_not_fit() -> None:
    nodes = gang.nodes_free([node("gpu", 8)], [gpu_pod("other", 4, "gpu")])
    fit = gang.place_all([gpu_pod(f"w{i}", 2) for i in range(3)], nodes)
    assert not fit.ok and "nvidia.com/gpu=2" in fit.message
    assert gang.place_all([gpu_pod(f"w{i}", 2) for i in range(2)], nodes).ok


def test_admitted_unbound_pods_hold_their_room() -> None:
    nodes = gang.nodes_free([node("gpu", 8)], [])
    assert not gang.place_with_reserved([gpu_pod("b", 4)], [gpu_pod("a0", 4), gpu_pod("a1", 2)], nodes).ok


def test_a_node_selector_no_node_matches_does_not_fit() -> None:
    p = gpu_pod("w", 1)
    p["spec"]["nodeSelector"] = {"accel": "h100"}
    assert not gang.place_all([p], gang.nodes_free([node("gpu", 8, accel="a100")], [])).ok


def test_clean_pod_policy_all_deletes_the_pods_in_the_pass_that_finishes_the_job() -> None:
    b = body(XGB, {"Master": replica("xgboost", 1), "Worker": replica("xgboost", 1)}, name="x",
             runPolicy={"cleanPodPolicy": "All"})
    job = view(XGB, b)
    pods = [pod(XGB, job, "Master", 0, "Succeeded", 0, "xgboost"), pod(XGB, job, "Worker", 0, "Running")]
    plan = plan_job(XGB, job, pods, {}, NOW, Options())
    assert plan.status["conditions"][-1]["type"] == "Succeeded"
    assert {p["metadata"]["name"] for _, p in plan.delete_pods} == {"x-master-0", "x-worker-0"}


def test_metrics_are_the_training_operators_counters_by_namespace_and_framework() -> None:
    from prometheus_client import CollectorRegistry

    from rayop.operator.kubeflow import metrics

    registry = CollectorRegistry()
    metrics.inc(registry, "created", "ns", "pytorch")
    metrics.inc(registry, "created", "ns", "pytorch")
    metrics.inc(registry, "restarted", "ns", "tensorflow")
    value = registry.get_sample_value
    assert value("training_operator_jobs_created_total", {"job_namespace": "ns", "framework": "pytorch"}) == 2
    assert value("training_operator_jobs_restarted_total", {"job_namespace": "ns", "framework": "tensorflow"}) == 1
    assert value("training_operator_jobs_failed_total", {"job_namespace": "ns", "framework": "pytorch"}) is None
