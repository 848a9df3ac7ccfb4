"""The RayJob state machine, one step at a time (KubeRay's rayjob_controller.go, plus rayop's differences)."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from rayop.api.rayjob import RayJob
from rayop.operator.rayjob import plan as P
from rayop.operator.rayjob.deletion import DeleteCluster, DeleteSelf, SuspendWorkers
from rayop.operator.rayjob.observe import JobPoll, Observed

NOW = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)
CLUSTER_SPEC = {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
    {"name": "ray-head", "image": "rayproject/ray:2.52.0"}]}}}}


@dataclass(frozen=True)
class Info:
    status: str
    message: str | None = None
    start_time: int | None = 1_764_590_000_000
    end_time: int | None = None


def job(**spec: Any) -> RayJob:
    body: dict[str, Any] = {"apiVersion": "ray.io/v1", "kind": "RayJob",
                            "metadata": {"name": "pi", "namespace": "ns", "uid": "u1", "generation": 1},
                            "spec": {"entrypoint": "python -c 'print(1)'",
                                     "rayClusterSpec": copy.deepcopy(CLUSTER_SPEC), **spec}}
    if "clusterSelector" in spec:
        body["spec"].pop("rayClusterSpec")
    return RayJob.parse(body)


def at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def ago(seconds: float) -> str:
    return P.rfc3339(NOW - dt.timedelta(seconds=seconds))


RUNNING = {"jobId": "pi-abcde", "rayClusterName": "pi-fghjk", "jobDeploymentStatus": "Running", "jobStatus": "",
           "startTime": ago(60), "dashboardURL": "pi-fghjk-head-svc.ns.svc.cluster.local:8265"}
READY_CLUSTER = {"metadata": {"name": "pi-fghjk", "namespace": "ns"},
                 "spec": {"workerGroupSpecs": [{"groupName": "w"}]}, "status": {"state": "ready"}}
COMPLETE_SUBMITTER = {"status": {"conditions": [{"type": "Complete", "status": "True",
                                                 "lastTransitionTime": ago(1)}]}}


def running(**status: Any) -> dict[str, Any]:
    return {**RUNNING, **status}


def types(step: P.Step) -> list[type]:
    return [type(a) for a in step.actions if not isinstance(a, P.Event)]


def test_a_new_job_fixes_its_submission_id_and_cluster_name_before_anything_is_created() -> None:
    out = P.step(job(), Observed(status={}), NOW)
    assert out.status["jobDeploymentStatus"] == "Initializing"
    assert out.status["jobId"].startswith("pi-") and out.status["rayClusterName"].startswith("pi-")
    assert out.status["startTime"] == P.rfc3339(NOW)
    assert out.write_first and types(out) == []


def test_a_given_job_id_is_the_submission_id() -> None:
    assert P.step(job(jobId="mine"), Observed(status={}), NOW).status["jobId"] == "mine"


def test_interactive_mode_has_no_submission_id_until_the_user_sets_one() -> None:
    assert P.step(job(submissionMode="InteractiveMode"), Observed(status={}), NOW).status["jobId"] is None


def test_a_cluster_selector_names_the_cluster() -> None:
    out = P.step(job(clusterSelector={"ray.io/cluster": "shared"}), Observed(status={}), NOW)
    assert out.status["rayClusterName"] == "shared"


def test_initializing_creates_the_cluster_it_named() -> None:
    status = {"jobDeploymentStatus": "Initializing", "rayClusterName": "pi-x", "jobId": "pi-y", "startTime": ago(1)}
    out = P.step(job(), Observed(status=status), NOW)
    assert [a for a in out.actions if isinstance(a, P.CreateCluster)] == [P.CreateCluster("pi-x")]


def test_initializing_waits_for_a_ready_cluster_and_mirrors_its_status() -> None:
    status = {"jobDeploymentStatus": "Initializing", "rayClusterName": "pi-x", "jobId": "pi-y", "startTime": ago(1)}
    cluster = {"metadata": {"name": "pi-x"}, "status": {"state": None, "readyWorkerReplicas": 0}}
    out = P.step(job(), Observed(status=status, cluster=cluster), NOW)
    assert out.status["jobDeploymentStatus"] == "Initializing"
    assert out.status["rayClusterStatus"] == cluster["status"]
    assert types(out) == []


def test_a_ready_cluster_starts_the_submitter_in_k8s_job_mode() -> None:
    status = {"jobDeploymentStatus": "Initializing", "rayClusterName": "pi-fghjk", "jobId": "pi-y",
              "startTime": ago(1)}
    out = P.step(job(), Observed(status=status, cluster=READY_CLUSTER, dashboard_url="d:8265"), NOW)
    assert out.status["jobDeploymentStatus"] == "Running"
    assert out.status["dashboardURL"] == "d:8265"
    assert types(out) == [P.CreateSubmitter]


def test_interactive_mode_waits_then_runs_the_job_id_the_user_set() -> None:
    status = {"jobDeploymentStatus": "Initializing", "rayClusterName": "pi-fghjk", "startTime": ago(1)}
    out = P.step(job(submissionMode="InteractiveMode"), Observed(status=status, cluster=READY_CLUSTER), NOW)
    assert out.status["jobDeploymentStatus"] == "Waiting"
    waiting = {**out.status}
    assert P.step(job(submissionMode="InteractiveMode"), Observed(status=waiting), NOW).status[
        "jobDeploymentStatus"] == "Waiting"
    out = P.step(job(submissionMode="InteractiveMode", jobId="by-hand"), Observed(status=waiting), NOW)
    assert (out.status["jobDeploymentStatus"], out.status["jobId"]) == ("Running", "by-hand")


def test_http_mode_submits_when_the_job_api_does_not_know_the_job() -> None:
    out = P.step(job(submissionMode="HTTPMode"), Observed(status=running(), cluster=READY_CLUSTER,
                                                          job_info=JobPoll(ok=True, value=None)), NOW)
    assert P.SubmitJob in types(out)


def test_no_submit_before_the_first_answer_of_the_job_api() -> None:
    out = P.step(job(submissionMode="HTTPMode"), Observed(status=running(), cluster=READY_CLUSTER), NOW)
    assert P.SubmitJob not in types(out)


def test_a_succeeded_job_whose_submitter_finished_is_complete_and_counted() -> None:
    obs = Observed(status=running(), cluster=READY_CLUSTER, submitter=COMPLETE_SUBMITTER,
                   job_info=JobPoll(ok=True, value=Info("SUCCEEDED", end_time=1)))
    out = P.step(job(), obs, NOW)
    assert (out.status["jobDeploymentStatus"], out.status["jobStatus"]) == ("Complete", "SUCCEEDED")
    assert out.status["succeeded"] == 1 and out.status["endTime"] == P.rfc3339(NOW)
    assert out.status["message"].endswith("Logs: kubectl logs -n ns job/pi")  # where the pipeline reads the output
    assert out.requeue_after is not None  # the finished state's first step (deletion deadlines) comes at once


def test_a_failed_job_fails_the_rayjob_with_app_failed() -> None:
    obs = Observed(status=running(), cluster=READY_CLUSTER, submitter=COMPLETE_SUBMITTER,
                   job_info=JobPoll(ok=True, value=Info("FAILED", message="boom")))
    out = P.step(job(), obs, NOW)
    assert (out.status["jobDeploymentStatus"], out.status["reason"], out.status["failed"]) == (
        "Failed", "AppFailed", 1)


def test_a_failed_attempt_is_retried_while_the_backoff_limit_allows() -> None:
    obs = Observed(status=running(), cluster=READY_CLUSTER, submitter=COMPLETE_SUBMITTER,
                   job_info=JobPoll(ok=True, value=Info("FAILED")))
    out = P.step(job(backoffLimit=1), obs, NOW)
    assert (out.status["jobDeploymentStatus"], out.status["failed"]) == ("Retrying", 1)
    second = P.step(job(backoffLimit=1), Observed(status=running(failed=1), cluster=READY_CLUSTER,
                                                   submitter=COMPLETE_SUBMITTER,
                                                   job_info=JobPoll(ok=True, value=Info("FAILED"))), NOW)
    assert (second.status["jobDeploymentStatus"], second.status["failed"]) == ("Failed", 2)


def test_retrying_deletes_cluster_and_submitter_then_starts_over_with_new_ids() -> None:
    status = running(jobDeploymentStatus="Retrying")
    out = P.step(job(backoffLimit=1), Observed(status=status, cluster=READY_CLUSTER, submitter={}), NOW)
    assert [a for a in out.actions if isinstance(a, P.DeleteChildren)] == [P.DeleteChildren(True, True)]
    out = P.step(job(backoffLimit=1), Observed(status=status), NOW)
    assert out.status["jobDeploymentStatus"] == "" and out.status["jobId"] is None
    again = P.step(job(backoffLimit=1), Observed(status=out.status), NOW)
    assert again.status["rayClusterName"] != "pi-fghjk" and again.status["jobId"] != "pi-abcde"


def test_the_active_deadline_fails_the_job_and_is_never_retried() -> None:
    out = P.step(job(activeDeadlineSeconds=30, backoffLimit=3), Observed(status=running(), cluster=READY_CLUSTER),
                 NOW)
    assert (out.status["jobDeploymentStatus"], out.status["reason"]) == ("Failed", "DeadlineExceeded")
    assert "ActiveDeadlineSeconds: 30" in out.status["message"]
    assert P.StopJob in types(out)  # the Ray job may still run: it is stopped


def test_the_pre_running_deadline_fails_a_job_still_initializing() -> None:
    status = {"jobDeploymentStatus": "Initializing", "rayClusterName": "pi-x", "jobId": "pi-y", "startTime": ago(20)}
    out = P.step(job(preRunningDeadlineSeconds=10), Observed(status=status), NOW)
    assert (out.status["jobDeploymentStatus"], out.status["reason"]) == ("Failed", "PreRunningDeadlineExceeded")


def test_failing_status_checks_start_a_timer_kept_on_the_object() -> None:
    out = P.step(job(), Observed(status=running(), cluster=READY_CLUSTER, job_info=JobPoll(ok=False, error="x")),
                 NOW)
    assert out.status["jobStatusCheckFailureStartTime"] == P.rfc3339(NOW)
    assert out.status["jobDeploymentStatus"] == "Running"


def test_status_checks_failing_past_the_timeout_fail_the_job_without_retry() -> None:
    status = running(jobStatusCheckFailureStartTime=ago(301))
    out = P.step(job(backoffLimit=2), Observed(status=status, cluster=READY_CLUSTER,
                                               job_info=JobPoll(ok=False, error="timeout")), NOW)
    assert (out.status["jobDeploymentStatus"], out.status["reason"]) == ("Failed", "JobStatusCheckTimeoutExceeded")


def test_a_successful_check_clears_the_failure_timer() -> None:
    status = running(jobStatusCheckFailureStartTime=ago(10))
    polled = JobPoll(ok=True, value=Info("RUNNING"))
    out = P.step(job(), Observed(status=status, cluster=READY_CLUSTER, job_info=polled), NOW)
    assert out.status["jobStatusCheckFailureStartTime"] is None and out.status["jobStatus"] == "RUNNING"


def test_a_failed_submitter_job_is_a_submission_failure() -> None:
    submitter = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                            "message": "Job has reached the specified backoff limit",
                                            "lastTransitionTime": ago(1)}]}}
    out = P.step(job(), Observed(status=running(), cluster=READY_CLUSTER, submitter=submitter), NOW)
    assert (out.status["jobDeploymentStatus"], out.status["reason"]) == ("Failed", "SubmissionFailed")
    assert "BackoffLimitExceeded" in out.status["message"]


def test_a_finished_submitter_whose_job_never_appeared_fails_after_30_s() -> None:
    late = {"status": {"conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": ago(31)}]}}
    out = P.step(job(), Observed(status=running(), cluster=READY_CLUSTER, submitter=late,
                                 job_info=JobPoll(ok=True, value=None)), NOW)
    assert (out.status["reason"], out.status["message"]) == (
        "AppFailed", "Submitter completed but Ray job not found in RayCluster.")


def test_a_terminal_job_waits_for_its_submitter_then_ends_after_the_grace_period() -> None:
    unfinished = {"status": {"conditions": []}}
    ended_ms = int((NOW - dt.timedelta(seconds=10)).timestamp() * 1000)
    obs = Observed(status=running(), cluster=READY_CLUSTER, submitter=unfinished,
                   job_info=JobPoll(ok=True, value=Info("SUCCEEDED", end_time=ended_ms)))
    assert P.step(job(), obs, NOW).status["jobDeploymentStatus"] == "Running"
    out = P.step(job(), obs, at(300))
    assert (out.status["jobDeploymentStatus"], out.status["reason"]) == (
        "Complete", "JobDeploymentStatusTransitionGracePeriodExceeded")


def test_suspend_deletes_cluster_and_submitter_and_resume_starts_over() -> None:
    status = {"jobDeploymentStatus": "Initializing", "rayClusterName": "pi-x", "jobId": "pi-y", "startTime": ago(1)}
    out = P.step(job(suspend=True, shutdownAfterJobFinishes=True), Observed(status=status), NOW)
    assert out.status["jobDeploymentStatus"] == "Suspending"
    out = P.step(job(suspend=True, shutdownAfterJobFinishes=True), Observed(status=out.status), NOW)
    assert out.status["jobDeploymentStatus"] == "Suspended" and out.status["rayClusterName"] is None
    out = P.step(job(shutdownAfterJobFinishes=True), Observed(status=out.status), NOW)
    assert out.status["jobDeploymentStatus"] == ""


def test_pods_that_cannot_start_fail_the_job_naming_the_pod_after_the_startup_deadline() -> None:
    status = {"jobDeploymentStatus": "Initializing", "rayClusterName": "pi-x", "jobId": "pi-y", "startTime": ago(61)}
    pod = {"metadata": {"name": "pi-x-head-abcde"}, "status": {"containerStatuses": [
        {"name": "ray-head", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}]}}
    cluster = {"metadata": {"name": "pi-x"}, "status": {}}
    timing = P.Timing(startup_deadline_s=60)
    out = P.step(job(), Observed(status=status, cluster=cluster, pods=[pod]), NOW, timing)
    assert (out.status["jobDeploymentStatus"], out.status["reason"]) == ("Failed", "RayClusterStartupFailed")
    assert "pi-x-head-abcde" in out.status["message"] and "ImagePullBackOff" in out.status["message"]
    early = P.step(job(), Observed(status={**status, "startTime": ago(30)}, cluster=cluster, pods=[pod]), NOW, timing)
    assert early.status["jobDeploymentStatus"] == "Initializing"


def test_a_spec_fixed_after_validation_failed_starts_over() -> None:
    out = P.step(job(), Observed(status={"jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed"}),
                 NOW)
    assert out.status["jobDeploymentStatus"] == "Initializing" and out.status["reason"] is None


def test_sidecar_mode_fails_when_the_head_pod_is_gone() -> None:
    out = P.step(job(submissionMode="SidecarMode"), Observed(status=running(), cluster=READY_CLUSTER,
                                                             head_missing=True), NOW)
    assert (out.status["reason"], out.status["message"]) == ("AppFailed", "Ray head pod not found.")


def finished(**status: Any) -> dict[str, Any]:
    return running(**{"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "endTime": ago(0), **status})


def test_shutdown_after_finish_deletes_the_cluster_only_after_the_ttl() -> None:
    spec = {"shutdownAfterJobFinishes": True, "ttlSecondsAfterFinished": 10}
    obs = Observed(status=finished(), cluster=READY_CLUSTER)
    early = P.step(job(**spec), obs, NOW)
    assert types(early) == [] and early.requeue_after == 12.0
    assert [a for a in P.step(job(**spec), obs, at(10)).actions] == [DeleteCluster("pi-fghjk")]


def test_deletion_rules_apply_in_time_and_the_most_impactful_overdue_rule_first() -> None:
    rules = [{"policy": "DeleteWorkers", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}},
             {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 10}},
             {"policy": "DeleteSelf", "condition": {"jobStatus": "FAILED", "ttlSeconds": 0}}]
    spec = {"deletionStrategy": {"deletionRules": rules}}
    obs = Observed(status=finished(), cluster=READY_CLUSTER)
    assert P.step(job(**spec), obs, NOW).actions == [SuspendWorkers("pi-fghjk")]
    assert P.step(job(**spec), obs, at(10)).actions == [DeleteCluster("pi-fghjk")]
    failed = Observed(status=finished(jobStatus="FAILED", jobDeploymentStatus="Failed"), cluster=READY_CLUSTER)
    assert P.step(job(**spec), failed, NOW).actions == [DeleteSelf()]


def test_a_selected_cluster_is_never_deleted() -> None:
    spec = {"clusterSelector": {"ray.io/cluster": "shared"}, "shutdownAfterJobFinishes": True}
    assert P.step(job(**spec), Observed(status=finished(rayClusterName="shared"), cluster=READY_CLUSTER),
                  at(100)).actions == []
