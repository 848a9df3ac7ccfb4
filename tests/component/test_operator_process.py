"""The operator process against failures of its surroundings: an API server outage, and a second replica.

Both tests run ``rayop operator`` as a subprocess, as users do. The outage test has a control plane of its own
(kube-apiserver is killed and restarted), so the session's control plane is never disturbed.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from rayop.local.controlplane.cluster import ControlPlane, ControlPlaneConfig
from rayop.local.controlplane.nodes import NodeShape
from rayop.local.devenv import start_operator
from tests.helpers import wait_for
from tests.support.raycluster import cluster_pods, get_cluster, load_sample, wait_ready

ROOT = Path(__file__).resolve().parents[2]


def _health(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read()))


def _scale(custom: Any, namespace: str, name: str, replicas: int) -> None:
    spec = copy.deepcopy(get_cluster(custom, namespace, name)["spec"])
    spec["workerGroupSpecs"][0].update(replicas=replicas, minReplicas=0, maxReplicas=10)
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name, {"spec": spec})


def _workers(core: Any, namespace: str, name: str) -> list[Any]:
    return [p for p in cluster_pods(core, namespace, name)
            if p.metadata.labels["ray.io/node-type"] == "worker" and not p.metadata.deletion_timestamp]


@pytest.fixture()
def own_control_plane() -> Iterator[ControlPlane]:
    cp = ControlPlane.start(ControlPlaneConfig(node_shapes=(NodeShape("cpu", 2, cpu="16", memory="64Gi"),)))
    try:
        cp.apply_crds(sorted((ROOT / "crds").glob("*.yaml")))
        yield cp
    finally:
        cp.stop()


@pytest.mark.timeout(400)
def test_after_a_60_s_api_server_outage_the_operator_acts_within_5_s_of_the_api_being_back(
        own_control_plane: ControlPlane, tmp_path: Path) -> None:
    cp = own_control_plane
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cp.kubeconfig), client_configuration=cfg)
    api = client.ApiClient(cfg)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespace({"metadata": {"name": "outage"}})
    comp, port = start_operator(cp.kubeconfig, tmp_path, ["-n", "outage"])
    try:
        body = load_sample("ray-cluster.sample.yaml")
        name = body["metadata"]["name"]
        body["spec"]["workerGroupSpecs"][0].update(replicas=1, minReplicas=0, maxReplicas=10)
        custom.create_namespaced_custom_object("ray.io", "v1", "outage", "rayclusters", body)
        wait_ready(custom, "outage", name, timeout=90)

        cp.kill_apiserver()
        time.sleep(60)
        assert comp.alive(), "the operator died during the outage"
        cp.restart_apiserver()
        back = time.monotonic()
        _scale(custom, "outage", name, 3)
        wait_for(lambda: len(_workers(core, "outage", name)) == 3, timeout=30, interval=0.1,
                 what="scale-up after the outage")
        took = time.monotonic() - back
        print(f"scale-up acted on {took:.2f} s after the API server was ready again")
        assert took < 5.0
        assert comp.alive()
        assert _health(port)["ok"] is True
    finally:
        comp.stop()


@pytest.mark.timeout(300)
def test_of_two_operators_only_the_leader_acts_and_the_standby_takes_over_when_it_dies(
        control_plane: Any, custom: Any, core: Any, private_namespace: str, tmp_path: Path) -> None:
    namespace = private_namespace
    env = {"RAYOP_LEADER_ELECTION__LEASE_DURATION_SECONDS": "6", "RAYOP_LEADER_ELECTION__RENEW_DEADLINE_SECONDS": "4",
           "RAYOP_LEADER_ELECTION__RETRY_PERIOD_SECONDS": "1"}
    old_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        first, first_port = start_operator(control_plane.kubeconfig, tmp_path / "a", ["-n", namespace])
        wait_for(lambda: _health(first_port)["role"] == "leader", timeout=20, what="first operator leads")
        second, second_port = start_operator(control_plane.kubeconfig, tmp_path / "b", ["-n", namespace])
    finally:
        for k, v in old_env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    try:
        time.sleep(3)
        assert _health(second_port)["role"] == "standby"
        body = load_sample("ray-cluster.sample.yaml")
        name = body["metadata"]["name"]
        body["spec"]["workerGroupSpecs"][0].update(replicas=3, minReplicas=0, maxReplicas=10)
        custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
        wait_ready(custom, namespace, name, timeout=90)
        time.sleep(2)
        pods = cluster_pods(core, namespace, name)
        assert len(pods) == 4, [p.metadata.name for p in pods]
        events = core.list_namespaced_event(namespace).items
        created = [e for e in events if e.reason in ("CreatedHeadPod", "CreatedWorkerPod")]
        assert len(created) == 4  # one event per pod: the standby posted none
        assert _health(second_port)["role"] == "standby"

        assert first.process is not None
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
        killed = time.monotonic()
        wait_for(lambda: _health(second_port)["role"] == "leader", timeout=20, interval=0.2, what="standby leads")
        print(f"standby led {time.monotonic() - killed:.1f} s after the leader was killed (lease 6 s)")
        _scale(custom, namespace, name, 5)
        wait_for(lambda: len(_workers(core, namespace, name)) == 5, timeout=30, what="the new leader converges")
        time.sleep(2)
        assert len(cluster_pods(core, namespace, name)) == 6
    finally:
        first.stop()
        second.stop()
