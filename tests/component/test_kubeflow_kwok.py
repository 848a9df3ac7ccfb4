"""Kubeflow training jobs on the real control plane with kwok nodes: the pods, Services and env Kubeflow would
create for its example shapes, restarts and failures (pod exits simulated by patching pod status, as a kubelet
reports them), the deadline, and gang start on the 8-GPU kwok node."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "06-kubeflow-jobs"
GROUP, VERSION = "kubeflow.org", "v1"


@pytest.fixture()
def batch(api_client: Any) -> Any:
    from kubernetes import client

    return client.BatchV1Api(api_client)


def example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / name).read_text()))


def create(custom: Any, namespace: str, plural: str, body: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)


def status(custom: Any, namespace: str, plural: str, name: str) -> dict[str, Any]:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name).get("status") or {}


def last_condition(custom: Any, namespace: str, plural: str, name: str, ctype: str, timeout: float = 60
                   ) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        conds = status(custom, namespace, plural, name).get("conditions") or []
        return conds[-1] if conds and conds[-1]["type"] == ctype else None
    return wait_for(check, timeout=timeout, what=f"{plural}/{name} {ctype}")


def pods_of(core: Any, namespace: str, job: str) -> dict[str, Any]:
    items = core.list_namespaced_pod(namespace, label_selector=f"training.kubeflow.org/job-name={job}").items
    return {p.metadata.name: p for p in items if not p.metadata.deletion_timestamp}


def env(pod: Any) -> dict[str, str]:
    return {e.name: e.value for e in pod.spec.containers[0].env or []}


def exit_pod(core: Any, namespace: str, name: str, code: int, container: str) -> None:
    phase = "Succeeded" if code == 0 else "Failed"
    core.patch_namespaced_pod_status(name, namespace, {"status": {"phase": phase, "containerStatuses": [
        {"name": container, "image": "x", "imageID": "", "ready": False, "restartCount": 0,
         "state": {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed"}}}]}})


def test_xgboost_example_gets_kubeflows_pods_services_and_env_and_succeeds_with_its_master(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    create(custom, namespace, "xgboostjobs", example("xgboostjob.yaml"))
    name = "xgboost-dist-iris"
    last_condition(custom, namespace, "xgboostjobs", name, "Running", timeout=90)
    pods = pods_of(core, namespace, name)
    assert set(pods) == {f"{name}-master-0", f"{name}-worker-0", f"{name}-worker-1"}
    assert all(p.status.phase == "Running" and not p.spec.scheduling_gates for p in pods.values())
    assert env(pods[f"{name}-worker-1"]) == {
        "MASTER_PORT": "9991", "MASTER_ADDR": f"{name}-master-0", "WORLD_SIZE": "3", "RANK": "2",
        "PYTHONUNBUFFERED": "0", "WORKER_PORT": "9991", "WORKER_ADDRS": f"{name}-worker-0,{name}-worker-1"}
    svc = core.read_namespaced_service(f"{name}-worker-1", namespace)
    assert svc.spec.cluster_ip == "None" and svc.spec.ports[0].port == 9991
    assert svc.spec.selector["training.kubeflow.org/replica-index"] == "1"
    assert pods[f"{name}-master-0"].metadata.labels["training.kubeflow.org/job-role"] == "master"
    exit_pod(core, namespace, f"{name}-master-0", 0, "xgboost")
    cond = last_condition(custom, namespace, "xgboostjobs", name, "Succeeded")
    assert cond["message"] == f"XGBoostJob {namespace}/{name} successfully completed."
    st = status(custom, namespace, "xgboostjobs", name)
    assert st["completionTime"] and st["replicaStatuses"]["Master"]["succeeded"] == 1


def tfjob(restart: str, **run_policy: Any) -> dict[str, Any]:
    body = example("tfjob-simple.yaml")
    body["spec"]["tfReplicaSpecs"]["Worker"]["restartPolicy"] = restart
    body["spec"]["runPolicy"] = run_policy
    return body


def test_tfjob_worker_killed_by_a_signal_is_recreated_under_exit_code_and_exit_1_fails_the_job(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    create(custom, namespace, "tfjobs", tfjob("ExitCode"))
    name = "tfjob-simple"
    last_condition(custom, namespace, "tfjobs", name, "Running", timeout=90)
    pods = pods_of(core, namespace, name)
    config = env(pods[f"{name}-worker-0"])["TF_CONFIG"]
    workers = f'"tfjob-simple-worker-0.{namespace}.svc:2222","tfjob-simple-worker-1.{namespace}.svc:2222"'
    assert config == '{"cluster":{"worker":[' + workers + ']},"task":{"type":"worker","index":0},"environment":"cloud"}'
    old_uid = pods[f"{name}-worker-1"].metadata.uid
    exit_pod(core, namespace, f"{name}-worker-1", 137, "tensorflow")
    wait_for(lambda: (p := pods_of(core, namespace, name).get(f"{name}-worker-1")) is not None
             and p.metadata.uid != old_uid and p.status.phase == "Running", timeout=60, what="worker-1 recreated")
    conds = status(custom, namespace, "tfjobs", name)["conditions"]
    assert any(c["type"] == "Restarting" for c in conds) or conds[-1]["type"] == "Running"
    exit_pod(core, namespace, f"{name}-worker-1", 1, "tensorflow")
    cond = last_condition(custom, namespace, "tfjobs", name, "Failed")
    assert cond["message"] == f"TFJob {namespace}/{name} has failed because 1 Worker replica(s) failed."


def test_active_deadline_fails_a_tfjob_with_the_upstream_message_and_deletes_its_pods(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    create(custom, namespace, "tfjobs", tfjob("OnFailure", activeDeadlineSeconds=4))
    cond = last_condition(custom, namespace, "tfjobs", "tfjob-simple", "Failed", timeout=60)
    assert cond["message"] == "Job tfjob-simple has failed because it was active longer than specified deadline"
    wait_for(lambda: not pods_of(core, namespace, "tfjob-simple"), timeout=30, what="pods deleted")


def test_backoff_limit_fails_a_pytorchjob_after_one_recreation(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = example("pytorchjob-simple.yaml")
    body["spec"]["runPolicy"] = {"backoffLimit": 1}
    create(custom, namespace, "pytorchjobs", body)
    name = "pytorch-simple"
    last_condition(custom, namespace, "pytorchjobs", name, "Running", timeout=90)
    first = pods_of(core, namespace, name)[f"{name}-worker-0"].metadata.uid
    exit_pod(core, namespace, f"{name}-worker-0", 1, "pytorch")
    wait_for(lambda: (p := pods_of(core, namespace, name).get(f"{name}-worker-0")) is not None
             and p.metadata.uid != first and p.status.phase == "Running", timeout=60, what="worker-0 recreated")
    exit_pod(core, namespace, f"{name}-worker-0", 1, "pytorch")
    cond = last_condition(custom, namespace, "pytorchjobs", name, "Failed")
    assert cond["message"] == f"Job {name} has failed because it has reached the specified backoff limit"


def gpu_blocker(gpus: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "blocker"},
            "spec": {"nodeSelector": {"nvidia.com/gpu.present": "true"},
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "c", "image": "x",
                                     "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}}


def test_a_gpu_job_that_cannot_fit_starts_no_pod_says_why_and_starts_when_capacity_frees(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, gpu_blocker(4))
    wait_for(lambda: core.read_namespaced_pod("blocker", namespace).status.phase == "Running", timeout=60,
             what="blocker running")
    body = example("pytorchjob-gpu-gang.yaml")
    for spec in body["spec"]["pytorchReplicaSpecs"].values():
        spec["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = 2
    create(custom, namespace, "pytorchjobs", body)
    name = "pytorch-gpu-gang"

    def waiting() -> dict[str, Any] | None:
        conds = status(custom, namespace, "pytorchjobs", name).get("conditions") or []
        return next((c for c in conds if c["type"] == "GangScheduled" and c["status"] == "False"), None)
    cond = wait_for(waiting, timeout=60, what="GangScheduled=False")
    assert "cannot all be placed" in cond["message"] and "nvidia.com/gpu=2" in cond["message"]
    pods = pods_of(core, namespace, name)
    assert len(pods) == 3 and all(p.spec.scheduling_gates and not p.spec.node_name for p in pods.values())
    core.delete_namespaced_pod("blocker", namespace, grace_period_seconds=0)
    last_condition(custom, namespace, "pytorchjobs", name, "Running", timeout=60)
    pods = pods_of(core, namespace, name)
    assert {p.spec.node_name for p in pods.values()} == {"kwok-gpu-0"}
    assert all(p.status.phase == "Running" for p in pods.values())


def test_a_job_managed_by_another_controller_is_left_alone(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = copy.deepcopy(example("tfjob-simple.yaml"))
    body["spec"]["runPolicy"] = {"managedBy": "kueue.x-k8s.io/multikueue"}
    create(custom, namespace, "tfjobs", body)
    create(custom, namespace, "tfjobs", {**example("tfjob-simple.yaml"), "metadata": {"name": "mine"}})
    last_condition(custom, namespace, "tfjobs", "mine", "Running", timeout=90)
    assert status(custom, namespace, "tfjobs", "tfjob-simple") == {}
    assert not pods_of(core, namespace, "tfjob-simple")


def launcher_pods(core: Any, namespace: str, job: str) -> list[Any]:
    """The launcher Job's live pods, oldest first (their names are the Job controller's)."""
    pods = [p for p in pods_of(core, namespace, job).values()
            if p.metadata.labels["training.kubeflow.org/replica-type"] == "launcher"]
    return sorted(pods, key=lambda p: p.metadata.creation_timestamp)


def test_mpijob_example_gets_its_ssh_secret_hostfile_service_workers_and_launcher_job_and_cleans_after_success(
        operator: Any, custom: Any, core: Any, batch: Any, namespace: str) -> None:
    """kwok completes a Job's pod as soon as it runs (its pod-complete stage): here, mpirun exiting 0."""
    create(custom, namespace, "mpijobs", example("mpijob-pi.yaml"))
    cond = last_condition(custom, namespace, "mpijobs", "pi", "Succeeded", timeout=90)
    assert cond["message"] == f"MPIJob {namespace}/pi successfully completed."
    st = status(custom, namespace, "mpijobs", "pi")
    assert st["replicaStatuses"]["Launcher"]["succeeded"] == 1 and st["completionTime"]
    assert core.read_namespaced_secret("pi-ssh", namespace).type == "kubernetes.io/ssh-auth"
    config = core.read_namespaced_config_map("pi-config", namespace).data
    assert config["hostfile"] == f"pi-worker-0.pi.{namespace}.svc slots=1\npi-worker-1.pi.{namespace}.svc slots=1\n"
    assert core.read_namespaced_service("pi", namespace).spec.cluster_ip == "None"
    job = wait_for(lambda: (j := batch.read_namespaced_job("pi-launcher", namespace)).status.succeeded and j,
                   timeout=30, what="the launcher Job complete")
    assert job.metadata.owner_references[0].kind == "MPIJob" and job.spec.backoff_limit == 0
    assert job.spec.pod_replacement_policy == "Failed"
    [launcher] = launcher_pods(core, namespace, "pi")
    assert launcher.metadata.owner_references[0].name == "pi-launcher" and launcher.status.phase == "Succeeded"
    assert (launcher.spec.hostname, launcher.spec.subdomain) == ("pi-launcher", "pi")
    assert {e.name for e in launcher.spec.containers[0].env} >= {"K_MPI_JOB_ROLE", "OMPI_MCA_orte_default_hostfile"}
    wait_for(lambda: set(pods_of(core, namespace, "pi")) == {launcher.metadata.name}, timeout=30,
             what="running workers deleted by cleanPodPolicy Running")


def held_mpijob(restart: str) -> dict[str, Any]:
    """An MPIJob whose launcher no node can take: the gang holds every pod, so nothing on kwok runs (and
    completes) it, and the test plays the launcher's exits by patching its pods' status as a kubelet would."""
    body = example("mpijob-pi.yaml")
    launcher = body["spec"]["mpiReplicaSpecs"]["Launcher"]
    launcher["restartPolicy"] = restart
    launcher["template"]["spec"]["nodeSelector"] = {"rayop.io/test": "no-such-node"}
    return body


def test_mpijob_launcher_killed_by_a_signal_is_replaced_by_its_job_and_exit_1_fails_the_mpijob(
        operator: Any, custom: Any, core: Any, batch: Any, namespace: str) -> None:
    create(custom, namespace, "mpijobs", held_mpijob("ExitCode"))
    [first] = wait_for(lambda: launcher_pods(core, namespace, "pi"), timeout=60, what="the launcher Job's pod")
    exit_pod(core, namespace, first.metadata.name, 137, "mpi")
    second = wait_for(lambda: next((p for p in launcher_pods(core, namespace, "pi")
                                    if p.metadata.name != first.metadata.name), None), timeout=60,
                      what="the Job's replacement launcher pod")
    cond = last_condition(custom, namespace, "mpijobs", "pi", "Restarting")
    assert cond["message"] == "MPIJob pi is restarting because 1 Launcher replica(s) failed."
    exit_pod(core, namespace, second.metadata.name, 1, "mpi")
    cond = last_condition(custom, namespace, "mpijobs", "pi", "Failed")
    assert cond["message"] == f"MPIJob {namespace}/pi has failed because 1 Launcher replica(s) failed."
    job = batch.read_namespaced_job("pi-launcher", namespace)
    assert any(c.type == "Failed" and c.reason == "PodFailurePolicy" for c in job.status.conditions or [])
    assert job.status.failed == 2


def test_suspending_an_mpijob_deletes_its_launcher_job_and_resuming_creates_it_again(
        operator: Any, custom: Any, core: Any, batch: Any, namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    create(custom, namespace, "mpijobs", held_mpijob("OnFailure"))
    first_uid = wait_for(lambda: batch.read_namespaced_job("pi-launcher", namespace).metadata.uid, timeout=60,
                         what="the launcher Job")
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "mpijobs", "pi",
                                          {"spec": {"runPolicy": {"suspend": True}}})
    last_condition(custom, namespace, "mpijobs", "pi", "Suspended")

    def launcher_job_gone() -> bool:
        try:
            batch.read_namespaced_job("pi-launcher", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False
    wait_for(lambda: launcher_job_gone() and not pods_of(core, namespace, "pi"), timeout=60,
             what="launcher Job and pods deleted")
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "mpijobs", "pi",
                                          {"spec": {"runPolicy": {"suspend": False}}})
    wait_for(lambda: batch.read_namespaced_job("pi-launcher", namespace).metadata.uid != first_uid, timeout=60,
             what="a new launcher Job")
    wait_for(lambda: len(pods_of(core, namespace, "pi")) == 3, timeout=30, what="the launcher and 2 workers again")


def test_active_deadline_fails_an_mpijob_with_the_upstream_message_and_stops_its_launcher_job(
        operator: Any, custom: Any, core: Any, batch: Any, namespace: str) -> None:
    body = held_mpijob("OnFailure")
    body["spec"]["runPolicy"] = {"activeDeadlineSeconds": 3}
    create(custom, namespace, "mpijobs", body)
    job = wait_for(lambda: batch.read_namespaced_job("pi-launcher", namespace), timeout=60, what="the launcher Job")
    assert job.spec.active_deadline_seconds == 3
    cond = last_condition(custom, namespace, "mpijobs", "pi", "Failed", timeout=60)
    assert cond["message"] == "Job pi has failed because it was active longer than specified deadline"
    wait_for(lambda: not pods_of(core, namespace, "pi"), timeout=30, what="pods deleted")


@pytest.fixture()
def autoscaling(api_client: Any) -> Any:
    from kubernetes import client

    return client.AutoscalingV2Api(api_client)


def hpa_of(autoscaling: Any, namespace: str, name: str) -> Any:
    from kubernetes.client.rest import ApiException

    try:
        return autoscaling.read_namespaced_horizontal_pod_autoscaler(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_an_elastic_pytorchjob_gets_an_hpa_the_hpa_controller_can_scale_through_the_jobs_scale_subresource(
        operator: Any, custom: Any, core: Any, autoscaling: Any, namespace: str) -> None:
    create(custom, namespace, "pytorchjobs", example("pytorchjob-elastic.yaml"))
    name = "elastic-echo"
    last_condition(custom, namespace, "pytorchjobs", name, "Running", timeout=90)
    hpa = wait_for(lambda: hpa_of(autoscaling, namespace, name), timeout=30, what="the job's HPA")
    ref = hpa.spec.scale_target_ref
    assert (ref.api_version, ref.kind, ref.name) == ("kubeflow.org/v1", "PyTorchJob", name)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 3)
    assert [o.kind for o in hpa.metadata.owner_references if o.controller] == ["PyTorchJob"]

    def able_to_scale() -> Any:  # kube-controller-manager's HPA controller read the job's scale subresource
        got = hpa_of(autoscaling, namespace, name)
        conds = {c.type: c for c in (got.status.conditions or [])} if got is not None and got.status else {}
        return conds.get("AbleToScale") if conds.get("AbleToScale") and conds["AbleToScale"].status == "True" \
            else None
    assert wait_for(able_to_scale, timeout=90, what="HPA AbleToScale").reason == "SucceededGetScale"

    custom.patch_namespaced_custom_object_scale(GROUP, VERSION, namespace, "pytorchjobs", name,
                                                {"spec": {"replicas": 3}})
    wait_for(lambda: f"{name}-worker-2" in pods_of(core, namespace, name), timeout=60, what="a third worker")
    assert env(pods_of(core, namespace, name)[f"{name}-worker-2"])["PET_NNODES"] == "1:3"


def test_suspending_an_elastic_pytorchjob_deletes_its_hpa_and_resuming_creates_it_again(
        operator: Any, custom: Any, autoscaling: Any, namespace: str) -> None:
    create(custom, namespace, "pytorchjobs", example("pytorchjob-elastic.yaml"))
    name = "elastic-echo"
    wait_for(lambda: hpa_of(autoscaling, namespace, name), timeout=60, what="the job's HPA")
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "pytorchjobs", name,
                                          {"spec": {"runPolicy": {"suspend": True}}})
    wait_for(lambda: hpa_of(autoscaling, namespace, name) is None, timeout=30, what="the HPA deleted")
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "pytorchjobs", name,
                                          {"spec": {"runPolicy": {"suspend": False}}})
    wait_for(lambda: hpa_of(autoscaling, namespace, name), timeout=30, what="the HPA back")
