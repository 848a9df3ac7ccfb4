"""The user entry points on real Ray (one cluster on the local node, shared by every test here, in order):
a notebook-style SDK session (create with progress, ray:// task, scale, delete on leaving the block), the `rayop job`
CLI as CI runs it (working dir shipped, exit code = verdict, logs), and a RayJob created through the REST API with
a ServiceAccount token, followed to SUCCEEDED."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import rayop.sdk
from rayop.sdk import clusters, errors
from rayop.sdk.client import Client
from rayop.sdk.session import Session

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "examples" / "07-job-working-dir"
RAYOP = str(Path(sys.executable).with_name("rayop"))
LOCAL = {"rayop.io/node-type": "local"}
SMALL_RAY = {"object-store-memory": "80000000"}


class Shared:
    cm: Any = None
    session: Session | None = None
    namespace = ""
    kubeconfig = ""


@pytest.fixture(scope="module")
def shared(operator: Any, local_node: Any, control_plane: Any, api_client: Any) -> Iterator[Shared]:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    s = Shared()
    s.namespace = f"t-sdk-{uuid.uuid4().hex[:8]}"
    s.kubeconfig = str(control_plane.kubeconfig)
    core.create_namespace({"metadata": {"name": s.namespace}})
    started = time.monotonic()
    s.cm = rayop.sdk.cluster(
        "nb", workers=1, cpus="500m", memory="1Gi", namespace=s.namespace, timeout=300, progress=True,
        client=Client.connect(kubeconfig=s.kubeconfig, namespace=s.namespace), head_cpus="500m",
        head_memory="1500Mi", head_node_selector=LOCAL, worker_node_selector=LOCAL,
        head_ray_start_params={"num-cpus": "0", **SMALL_RAY}, worker_ray_start_params={"num-cpus": "1", **SMALL_RAY})
    try:
        s.session = s.cm.__enter__()
    except errors.NotReady:
        _dump(core, s.namespace)
        raise
    print(f"cluster usable (ray:// connects) {time.monotonic() - started:.1f} s after create")
    yield s
    if s.cm is not None:
        s.cm.__exit__(None, None, None)
    core.delete_namespace(s.namespace)


def _dump(core: Any, namespace: str) -> None:
    """What the pods say when the shared cluster does not become ready (for the log of a failed run)."""
    for pod in core.list_namespaced_pod(namespace).items:
        print(f"--- pod {pod.metadata.name}: {pod.status.phase} {pod.status.conditions}")
        for cs in (pod.status.init_container_statuses or []) + (pod.status.container_statuses or []):
            print(f"    {cs.name}: ready={cs.ready} state={cs.state}")
            try:
                print(core.read_namespaced_pod_log(pod.metadata.name, namespace, container=cs.name, tail_lines=30))
            except Exception as exc:
                print(f"    (no log: {exc})")


def rayop_cli(s: Shared, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    # connection flags right after the verb: everything after `--` of job submit is the entrypoint
    argv = [RAYOP, *args[:2], "--kubeconfig", s.kubeconfig, "-n", s.namespace, *args[2:]]
    if args[0] == "session":
        argv = [RAYOP, "session", "--kubeconfig", s.kubeconfig, "-n", s.namespace, *args[1:]]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    print(f"$ rayop {' '.join(args)}  -> exit {out.returncode} in {time.monotonic() - started:.1f} s\n"
          f"--- stdout\n{out.stdout}--- stderr\n{out.stderr}")
    return out


def test_a_notebook_runs_a_ray_task_through_the_client_address(shared: Shared) -> None:
    import ray

    assert shared.session is not None
    address = shared.session.client_address
    assert address.startswith("ray://") and address.endswith(":10001")
    shared.session.connect()  # ray.init(address), retrying a client server that failed to start (seen in CI)
    try:
        assert ray.get(ray.remote(lambda x: x * 2).remote(21)) == 42
    finally:
        ray.shutdown()


def test_job_submit_ships_the_working_dir_and_exits_0_on_succeeded(shared: Shared) -> None:
    out = rayop_cli(shared, "job", "submit", "--name", "train", "--cluster", "nb", "--working-dir", str(PROJECT),
                    "--", "python", "train.py")
    assert out.returncode == 0
    assert "trained 4 steps, final loss 0.25" in out.stdout
    assert "RayJob " + shared.namespace + "/train: SUCCEEDED" in out.stdout


def test_job_submit_of_a_failing_script_exits_non_zero_with_the_jobs_message(shared: Shared) -> None:
    out = rayop_cli(shared, "job", "submit", "--name", "broken", "--cluster", "nb", "--working-dir", str(PROJECT),
                    "--", "python", "fail.py")
    assert out.returncode == 1
    assert f"RayJob {shared.namespace}/broken: FAILED" in out.stderr
    assert "bad hyperparameter: learning rate must be > 0" in out.stderr


def test_job_logs_prints_the_jobs_output(shared: Shared) -> None:
    out = rayop_cli(shared, "job", "logs", "train")
    assert out.returncode == 0 and "trained 4 steps, final loss 0.25" in out.stdout


def test_job_list_and_status_show_the_verdicts(shared: Shared) -> None:
    listed = rayop_cli(shared, "job", "list")
    rows = {line.split()[0]: line.split()[2] for line in listed.stdout.splitlines()[1:]}
    assert rows == {"broken": "FAILED", "train": "SUCCEEDED"}
    status = rayop_cli(shared, "job", "status", "broken", "-o", "json")
    assert '"jobStatus": "FAILED"' in status.stdout


def test_session_prints_addresses_that_work_from_here(shared: Shared) -> None:
    out = rayop_cli(shared, "session", "nb")
    assert out.returncode == 0 and "Ray client:  ray://" in out.stdout
    dashboard = out.stdout.split("Dashboard:")[1].split()[0]
    assert requests.get(f"{dashboard}/api/version", timeout=10).status_code == 200


def test_job_stop_stops_a_running_job_and_submit_exits_non_zero(shared: Shared) -> None:
    out = rayop_cli(shared, "job", "submit", "--name", "sleepy", "--cluster", "nb", "--no-wait", "--",
                    "python", "-c", "import time; print('sleeping', flush=True); time.sleep(600)")
    assert out.returncode == 0
    deadline = time.monotonic() + 60
    while "RUNNING" not in rayop_cli(shared, "job", "status", "sleepy").stdout:
        assert time.monotonic() < deadline, "sleepy never RUNNING"
        time.sleep(2)
    assert rayop_cli(shared, "job", "stop", "sleepy").returncode == 0
    follow = rayop_cli(shared, "job", "logs", "sleepy", "--follow", timeout=120)
    assert follow.returncode == 1 and "sleeping" in follow.stdout
    assert f"RayJob {shared.namespace}/sleepy: STOPPED" in follow.stderr


def test_cluster_logs_prints_the_head_containers_log(shared: Shared) -> None:
    out = rayop_cli(shared, "cluster", "logs", "nb", "--node-type", "head", "--tail", "50")
    assert out.returncode == 0 and out.stdout.startswith("==> nb-head-")


def test_cluster_get_shows_the_cluster_ready(shared: Shared) -> None:
    out = rayop_cli(shared, "cluster", "get", "nb")
    assert out.returncode == 0 and out.stdout.splitlines()[1].split()[:2] == ["nb", shared.namespace]
    assert " ready " in out.stdout.splitlines()[1]


def test_a_rayjob_created_through_the_rest_api_with_a_service_account_token_succeeds(
        shared: Shared, api_client: Any) -> None:
    import socket

    import uvicorn
    from kubernetes import client

    from rayop.restapi.app import create_app

    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    ns = shared.namespace
    core.create_namespaced_service_account(ns, {"metadata": {"name": "ci"}})
    rbac.create_namespaced_role(ns, {"metadata": {"name": "rayjobs"}, "rules": [
        {"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": ["create", "get", "list"]}]})
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": "ci"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                               "name": "rayjobs"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": ns}]})
    token = core.create_namespaced_service_account_token("ci", ns, {"spec": {"expirationSeconds": 600}}).status.token
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(Client.connect(kubeconfig=shared.kubeconfig)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}/apis/ray.io/v1/namespaces/{ns}/rayjobs"
        auth = {"Authorization": f"Bearer {token}"}
        job = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "from-ci"},
               "spec": {"entrypoint": "python -c \"print('hello from CI')\"", "submissionMode": "HTTPMode",
                        "clusterSelector": {"ray.io/cluster": "nb"}}}
        assert requests.post(base, json=job, headers=auth, timeout=30).status_code == 201
        with requests.get(f"{base}/from-ci/log", params={"follow": "true"}, headers=auth, stream=True,
                          timeout=300) as resp:
            assert resp.status_code == 200
            text = "".join(resp.iter_content(chunk_size=None, decode_unicode=True))
        print(text)
        assert "hello from CI" in text and text.rstrip().endswith(f"RayJob {ns}/from-ci: SUCCEEDED")
        status = requests.get(f"{base}/from-ci", headers=auth, timeout=30).json()["status"]
        assert (status["jobStatus"], status["jobDeploymentStatus"]) == ("SUCCEEDED", "Complete")
    finally:
        server.should_exit = True
        thread.join(10)


def test_scale_waits_for_the_new_worker_and_leaving_the_block_deletes_the_cluster(shared: Shared) -> None:
    import ray

    assert shared.session is not None
    cluster = shared.session.scale(2, timeout=240)
    assert cluster.status is not None and cluster.status.ready_worker_replicas == 2
    shared.session.connect()
    try:
        assert ray.cluster_resources().get("CPU") == 2.0
    finally:
        ray.shutdown()
    shared.cm.__exit__(None, None, None)
    shared.cm = None
    client = shared.session.client
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            clusters.get(client, "nb", shared.namespace)
        except errors.NotFound:
            return
        time.sleep(1)
    pytest.fail("RayCluster nb still exists 120 s after leaving the block")
