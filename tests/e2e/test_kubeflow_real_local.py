"""Kubeflow jobs that really run, on the local node: the replicas are host processes in their own network
namespaces that find each other only through the env rayop injects and the per-pod Services (cluster DNS), and
each job ends Succeeded and cleaned up by its cleanPodPolicy. The workloads are in ``kubeflow_workloads.py``:
TFJob (TF_CONFIG), PyTorchJob (a rendezvous/all-reduce on MASTER_ADDR:MASTER_PORT, no torch: a CPU torch is not
a reasonable install here), XGBoostJob (real XGBoost with its Rabit tracker on the master), MPIJob (mpirun over
SSH from the launcher Job into sshd workers, an mpi4py allreduce)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for

WORKLOADS = Path(__file__).resolve().with_name("kubeflow_workloads.py")
GROUP, VERSION = "kubeflow.org", "v1"


def replica(container: str, framework: str, n: int, restart: str = "Never") -> dict[str, Any]:
    return {"replicas": n, "restartPolicy": restart, "template": {"spec": {
        "nodeSelector": {"rayop.io/node-type": "local"},
        "containers": [{"name": container, "image": "local", "command": ["python", str(WORKLOADS), framework],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}


def job(kind: str, name: str, field: str, replicas: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name},
            "spec": {field: replicas, "runPolicy": {"cleanPodPolicy": "All", "activeDeadlineSeconds": 150}}}


def run(custom: Any, core: Any, namespace: str, plural: str, body: dict[str, Any], gone: str = "") -> None:
    """Apply ``body``, expect Succeeded, then its pods (``gone``: only that replica type's) deleted by its
    cleanPodPolicy."""
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)

    def final() -> dict[str, Any] | None:
        conds = (custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name).get("status")
                 or {}).get("conditions") or []
        return conds[-1] if conds and conds[-1]["type"] in ("Succeeded", "Failed") else None
    try:
        cond = wait_for(final, timeout=120, interval=0.5, what=f"{plural}/{name} finished")
    except AssertionError:
        cond = {"type": "timeout"}
    if cond["type"] != "Succeeded":
        logs = {p.metadata.name: (p.status.phase, core.read_namespaced_pod_log(p.metadata.name, namespace)[-2000:])
                for p in core.list_namespaced_pod(namespace).items}
        pytest.fail(f"{plural}/{name}: {cond}\n{logs}")
    selector = f"training.kubeflow.org/job-name={name}"
    selector += f",training.kubeflow.org/replica-type={gone}" if gone else ""
    wait_for(lambda: not core.list_namespaced_pod(namespace, label_selector=selector).items, timeout=30,
             what=f"pods ({selector}) deleted by cleanPodPolicy")


def test_tfjob_workers_reach_each_other_by_tf_config_and_the_job_succeeds(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    run(custom, core, namespace, "tfjobs", job("TFJob", "tf", "tfReplicaSpecs", {
        "Worker": replica("tensorflow", "tf", 2), "PS": replica("tensorflow", "tf", 1)}))


def test_pytorchjob_ranks_rendezvous_on_master_addr_and_all_reduce(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    run(custom, core, namespace, "pytorchjobs", job("PyTorchJob", "pt", "pytorchReplicaSpecs", {
        "Master": replica("pytorch", "pytorch", 1, "OnFailure"), "Worker": replica("pytorch", "pytorch", 2,
                                                                                   "OnFailure")}))


def test_xgboostjob_trains_across_a_master_and_two_workers(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    pytest.importorskip("xgboost", reason="the kubeflow extra (xgboost-cpu) is not installed")
    run(custom, core, namespace, "xgboostjobs", job("XGBoostJob", "xgb", "xgbReplicaSpecs", {
        "Master": replica("xgboost", "xgboost", 1), "Worker": replica("xgboost", "xgboost", 2, "ExitCode")}))


def test_mpijob_launcher_runs_an_allreduce_over_ssh_on_its_workers(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    """Shaped like mpi-operator's pi example: image ``mpioperator/openmpi`` (the local node stands in for its ssh
    settings), workers without a command (rayop starts ``sshd -De``), the launcher Job's ``mpirun`` reaching them
    by the hostfile's names with the generated key; Debian's openmpi and mpi4py do the allreduce."""
    import shutil
    import subprocess

    if not (shutil.which("mpirun") and Path("/usr/sbin/sshd").exists() and subprocess.run(
            ["/usr/bin/python3", "-c", "import mpi4py"], capture_output=True).returncode == 0):
        pytest.skip("Debian's openmpi-bin, openssh-server or python3-mpi4py is not installed (make sysdeps)")
    image = "mpioperator/openmpi:0.6.0"
    # With gang start the launcher starts with its workers: it waits until their names resolve (their sshd is up
    # and Ready), as mpi-operator's launcherCreationPolicy WaitForWorkersReady would.
    wait_hosts = ("for h in $(cut -d' ' -f1 /etc/mpi/hostfile); do i=0; "
                  "until getent hosts $h >/dev/null || [ $i -gt 60 ]; do i=$((i+1)); sleep 1; done; done")
    launcher = replica("mpi", "mpi", 1, "OnFailure")
    container = launcher["template"]["spec"]["containers"][0]
    container["image"] = image
    container["command"] = ["/bin/sh", "-c", f"{wait_hosts}; exec mpirun --allow-run-as-root -n 2 "
                                             f"/usr/bin/python3 {WORKLOADS} mpi"]
    worker = replica("mpi", "mpi", 2)
    worker["template"]["spec"]["containers"][0].update(image=image, command=None)
    body = job("MPIJob", "pi", "mpiReplicaSpecs", {"Launcher": launcher, "Worker": worker})
    body["spec"]["runPolicy"]["cleanPodPolicy"] = "Running"
    run(custom, core, namespace, "mpijobs", body, gone="worker")
    [pod] = core.list_namespaced_pod(namespace, label_selector="training.kubeflow.org/replica-type=launcher").items
    assert pod.metadata.owner_references[0].kind == "Job" and pod.status.phase == "Succeeded"
    log = core.read_namespaced_pod_log(pod.metadata.name, namespace)
    ranks = sorted(line.split(" on ")[0] for line in log.splitlines() if line.startswith("mpi rank "))
    assert ranks == ["mpi rank 0/2", "mpi rank 1/2"], log
    assert log.count("allreduce sum 3") == 2, log
    hosts = {line.split(" on ")[1].split(":")[0] for line in log.splitlines() if line.startswith("mpi rank ")}
    assert hosts == {"pi-worker-0", "pi-worker-1"}, log
