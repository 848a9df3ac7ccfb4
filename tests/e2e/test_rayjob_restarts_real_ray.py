"""Never twice: the operator SIGKILLed at each step of a RayJob and restarted runs exactly one Ray job per attempt,
counted through Ray's own job API (not the operator's status), on one cluster."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.local.devenv import start_operator
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "04-rayjob-local" / "rayjob.yaml"
#: A short lease, so the restarted operator takes over quickly from the one it replaces (killed without release).
LEASE_ENV = {"RAYOP_LEADER_ELECTION__LEASE_DURATION_SECONDS": "4", "RAYOP_LEADER_ELECTION__RENEW_DEADLINE_SECONDS": "3",
             "RAYOP_LEADER_ELECTION__RETRY_PERIOD_SECONDS": "0.5"}


def _status(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    return dict(custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", name).get("status") or {})


def _ray_jobs(head_ip: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://{head_ip}:8265/api/jobs/", timeout=10) as resp:
        return list(json.loads(resp.read()))


def _head_ip(custom: Any, namespace: str, cluster: str) -> str | None:
    obj = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", cluster)
    return ((obj.get("status") or {}).get("head") or {}).get("podIP")


def _kill(comp: Any) -> None:
    os.killpg(comp.process.pid, signal.SIGKILL)
    comp.process.wait(10)


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("mode", "kill_when"), [
    ("K8sJobMode", "cluster-created"),
    ("HTTPMode", "job-submitted"),
])
def test_an_operator_killed_mid_job_runs_it_exactly_once(
        control_plane: Any, local_node: Any, custom: Any, private_namespace: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, mode: str, kill_when: str) -> None:
    namespace = private_namespace
    for key, value in LEASE_ENV.items():
        monkeypatch.setenv(key, value)
    body = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"]["name"] = "once"
    # The cluster stays after the job (no shutdown), so the jobs on its head can be counted afterwards.
    body["spec"].update(submissionMode=mode, entrypoint="python -c 'import time; time.sleep(8); print(\"done\")'",
                        shutdownAfterJobFinishes=False, ttlSecondsAfterFinished=0)
    if mode != "K8sJobMode":
        body["spec"].pop("submitterPodTemplate")
    comp, _ = start_operator(control_plane.kubeconfig, tmp_path / "first", ["-n", namespace])
    try:
        custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", body)
        if kill_when == "cluster-created":
            wait_for(lambda: custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"],
                     timeout=120, interval=0.05, what="cluster created")
        else:
            cluster = wait_for(lambda: _status(custom, namespace, "once").get("rayClusterName"), timeout=60)
            head = wait_for(lambda: _head_ip(custom, namespace, cluster), timeout=300, what="head IP")
            wait_for(lambda: _ray_jobs(head), timeout=300, interval=0.05, what="job submitted")
        _kill(comp)
        print(f"killed the operator at {kill_when}: status then {_status(custom, namespace, 'once')}")
        comp, _ = start_operator(control_plane.kubeconfig, tmp_path / "second", ["-n", namespace])
        seen: list[dict[str, Any]] = [{}]

        def finished() -> dict[str, Any] | None:
            seen[0] = _status(custom, namespace, "once")
            return seen[0] if seen[0].get("jobDeploymentStatus") in ("Complete", "Failed") else None

        try:
            status = wait_for(finished, timeout=400, interval=0.5, what="RayJob finished")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last status {seen[0]}") from None
        assert (status["jobDeploymentStatus"], status["jobStatus"]) == ("Complete", "SUCCEEDED"), status
        clusters = custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"]
        assert [c["metadata"]["name"] for c in clusters] == [status["rayClusterName"]]  # one cluster, ever
        jobs = _ray_jobs(_head_ip(custom, namespace, status["rayClusterName"]) or "")
        assert [j["submission_id"] for j in jobs] == [status["jobId"]]  # one Ray job, ever
    finally:
        comp.stop()
