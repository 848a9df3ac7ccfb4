"""MPIJob's launcher as a ``batch/v1`` Job (mpi-operator v2beta1's design) read back with training-operator v1's
status semantics: what the Job says for each restart policy, and how the engine's pass turns its pods and
conditions into the MPIJob's replicaStatuses and conditions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rayop.operator.kubeflow.launcher_job import PERMANENT_EXIT_CODES, build, replica_counts
from rayop.operator.kubeflow.mpi import MPI
from rayop.operator.kubeflow.plan import Options, plan_job
from rayop.operator.kubeflow.pods import build_pod, job_labels
from tests.unit.kubeflow_fixtures import body, replica, view

FW = MPI()
NOW = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)


def mpijob(launcher_restart: str | None = None, **run_policy: Any) -> Any:
    return view(FW, body(FW, {"Launcher": replica("mpi", 1, restart=launcher_restart, command=["mpirun", "x"]),
                              "Worker": replica("mpi", 2)}, name="pi", runPolicy=run_policy))


def launcher_job(job: Any, **status: Any) -> dict[str, Any]:
    planned = build(job, "Launcher", build_pod(FW, job, "Launcher", 0, gang=True), job_labels(FW, job), "mpi")
    return {**planned, "metadata": {**planned["metadata"], "namespace": "ns", "uid": "job-uid"}, "status": status}


def launcher_pod(job: Any, phase: str, created: str, exit_code: int | None = None) -> dict[str, Any]:
    p = build_pod(FW, job, "Launcher", 0)
    p["metadata"].update(name=f"pi-launcher-{created}", uid=f"u-{created}", creationTimestamp=created,
                         ownerReferences=[{"controller": True, "kind": "Job", "uid": "job-uid"}])
    p["status"] = {"phase": phase}
    if exit_code is not None:
        p["status"]["containerStatuses"] = [{"name": "mpi", "state": {"terminated": {"exitCode": exit_code}}}]
    return p


def worker(job: Any, i: int, phase: str = "Running") -> dict[str, Any]:
    p = build_pod(FW, job, "Worker", i)
    p["metadata"].update(uid=f"w-{i}", ownerReferences=[{"controller": True, "uid": "uid-1"}])
    p["status"] = {"phase": phase}
    return p


def failed_cond(reason: str) -> dict[str, Any]:
    return {"conditions": [{"type": "Failed", "status": "True", "reason": reason}], "failed": 1}


def test_a_new_mpijob_creates_the_launcher_as_a_batch_job_and_only_the_workers_as_pods() -> None:
    plan = plan_job(FW, mpijob(), [], {}, NOW, Options())
    assert [p["metadata"]["name"] for _, p in plan.create_pods] == ["pi-worker-0", "pi-worker-1"]
    [job] = plan.create_jobs
    assert (job["apiVersion"], job["kind"], job["metadata"]["name"]) == ("batch/v1", "Job", "pi-launcher")
    assert job["metadata"]["labels"] == {"training.kubeflow.org/operator-name": "mpijob-controller",
                                         "training.kubeflow.org/job-name": "pi",
                                         "training.kubeflow.org/replica-type": "launcher"}
    assert not plan.complete


def test_the_launcher_jobs_pod_template_is_the_pod_the_engine_would_build() -> None:
    job = mpijob()
    template = plan_job(FW, job, [], {}, NOW, Options()).create_jobs[0]["spec"]["template"]
    pod = build_pod(FW, job, "Launcher", 0, gang=True)
    assert template == {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]}
    assert template["metadata"]["labels"]["training.kubeflow.org/job-role"] == "master"
    assert (template["spec"]["hostname"], template["spec"]["subdomain"]) == ("pi-launcher", "pi")
    assert template["spec"]["schedulingGates"] == [{"name": "rayop.io/gang"}]


def test_a_never_launcher_fails_its_job_at_the_first_failure() -> None:
    spec = launcher_job(mpijob())["spec"]
    assert (spec["template"]["spec"]["restartPolicy"], spec["backoffLimit"]) == ("Never", 0)
    assert spec["podReplacementPolicy"] == "Failed" and "podFailurePolicy" not in spec


def test_an_on_failure_launcher_restarts_in_place_within_the_run_policys_backoff_limit() -> None:
    spec = launcher_job(mpijob("OnFailure", backoffLimit=3, activeDeadlineSeconds=60))["spec"]
    assert (spec["template"]["spec"]["restartPolicy"], spec["backoffLimit"]) == ("OnFailure", 3)
    assert spec["activeDeadlineSeconds"] == 60
    assert launcher_job(mpijob("OnFailure"))["spec"]["backoffLimit"] == 2_147_483_647


def test_an_exit_code_launcher_fails_its_job_on_exit_codes_below_128_and_retries_signals() -> None:
    spec = launcher_job(mpijob("ExitCode"))["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["podFailurePolicy"] == {"rules": [{"action": "FailJob", "onExitCodes": {
        "containerName": "mpi", "operator": "In", "values": PERMANENT_EXIT_CODES}}]}
    assert PERMANENT_EXIT_CODES[0] == 1 and PERMANENT_EXIT_CODES[-1] == 127


def test_the_launcher_replica_is_the_jobs_newest_pod() -> None:
    job = mpijob("ExitCode")
    pods = [launcher_pod(job, "Failed", "2026-12-02T04:00:00Z", 137), launcher_pod(job, "Running",
                                                                                   "2026-12-02T04:01:00Z")]
    c = replica_counts(pods, launcher_job(job, active=1, failed=1))
    assert (c.active, c.succeeded, c.failed, c.exhausted) == (1, 0, 0, False)


def test_a_launcher_killed_by_a_signal_restarts_the_mpijob_and_its_replacement_runs_it_again() -> None:
    job = mpijob("ExitCode")
    bj = launcher_job(job, failed=1)
    first = launcher_pod(job, "Failed", "2026-12-02T04:00:00Z", 137)
    plan = plan_job(FW, job, [first, worker(job, 0), worker(job, 1)], {}, NOW, Options(), {"pi-launcher": bj})
    assert plan.status["conditions"][-1]["type"] == "Restarting"
    assert plan.delete_pods == [] and plan.create_jobs == []  # the Job makes the replacement, not the engine
    again = launcher_pod(job, "Running", "2026-12-02T04:01:00Z")
    plan = plan_job(FW, job, [first, again, worker(job, 0), worker(job, 1)], {}, NOW, Options(), {"pi-launcher": bj})
    assert plan.status["conditions"][-1]["type"] == "Running"
    assert plan.status["replicaStatuses"]["Launcher"]["active"] == 1
    assert plan.status["replicaStatuses"]["Launcher"]["failed"] == 0


def test_a_failed_launcher_job_fails_the_mpijob_with_v1s_message_and_cleans_running_workers() -> None:
    job = mpijob("ExitCode", cleanPodPolicy="Running")
    pods = [launcher_pod(job, "Failed", "2026-12-02T04:00:00Z", 1), worker(job, 0), worker(job, 1)]
    plan = plan_job(FW, job, pods, {}, NOW, Options(), {"pi-launcher": launcher_job(job, **failed_cond(
        "PodFailurePolicy"))})
    last = plan.status["conditions"][-1]
    assert (last["type"], last["reason"], last["message"]) == (
        "Failed", "MPIJobFailed", "MPIJob ns/pi has failed because 1 Launcher replica(s) failed.")
    assert {p["metadata"]["name"] for _, p in plan.delete_pods} == {"pi-worker-0", "pi-worker-1"}
    assert plan.delete_jobs == []  # a finished Job replaces nothing; it stays for its logs


def test_a_launcher_job_past_its_deadline_fails_the_mpijob_with_v1s_deadline_message() -> None:
    job = mpijob(activeDeadlineSeconds=600)
    pods = [launcher_pod(job, "Failed", "2026-12-02T04:00:00Z", 143), worker(job, 0), worker(job, 1)]
    plan = plan_job(FW, job, pods, {}, NOW, Options(), {"pi-launcher": launcher_job(job, **failed_cond(
        "DeadlineExceeded"))})
    assert plan.status["conditions"][-1]["message"] == (
        "Job pi has failed because it was active longer than specified deadline")


def test_a_succeeded_launcher_succeeds_the_mpijob() -> None:
    job = mpijob()
    pods = [launcher_pod(job, "Succeeded", "2026-12-02T04:00:00Z", 0), worker(job, 0), worker(job, 1)]
    plan = plan_job(FW, job, pods, {}, NOW, Options(), {"pi-launcher": launcher_job(job, succeeded=1, conditions=[
        {"type": "Complete", "status": "True"}])})
    assert plan.status["conditions"][-1]["message"] == "MPIJob ns/pi successfully completed."
    assert plan.status["replicaStatuses"]["Launcher"]["succeeded"] == 1


def test_workers_failing_stop_a_running_launcher_job_so_it_starts_no_new_launcher() -> None:
    job = mpijob(cleanPodPolicy="All")
    pods = [launcher_pod(job, "Running", "2026-12-02T04:00:00Z"), worker(job, 0, "Failed"), worker(job, 1)]
    plan = plan_job(FW, job, pods, {}, NOW, Options(), {"pi-launcher": launcher_job(job, active=1)})
    assert plan.status["conditions"][-1]["message"] == "MPIJob ns/pi has failed because 1 Worker replica(s) failed."
    assert plan.delete_jobs == ["pi-launcher"]


def test_suspending_deletes_the_launcher_job_and_the_workers() -> None:
    job = mpijob(suspend=True)
    pods = [launcher_pod(job, "Running", "2026-12-02T04:00:00Z"), worker(job, 0), worker(job, 1)]
    plan = plan_job(FW, job, pods, {}, NOW, Options(), {"pi-launcher": launcher_job(job, active=1)})
    assert plan.delete_jobs == ["pi-launcher"]
    assert len(plan.delete_pods) == 3 and plan.status["conditions"][-1]["type"] == "Suspended"


def test_the_gang_is_complete_only_once_the_launcher_jobs_pod_exists() -> None:
    job = mpijob()
    workers = [worker(job, 0, "Pending"), worker(job, 1, "Pending")]
    jobs = {"pi-launcher": launcher_job(job)}
    assert not plan_job(FW, job, workers, {}, NOW, Options(), jobs).complete
    with_launcher = [*workers, launcher_pod(job, "Pending", "2026-12-02T04:00:00Z")]
    assert plan_job(FW, job, with_launcher, {}, NOW, Options(), jobs).complete
