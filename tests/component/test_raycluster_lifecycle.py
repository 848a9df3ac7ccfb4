"""Multi-host replacement, Recreate upgrades and operator restarts on the real control plane."""

from __future__ import annotations

import copy
import os
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rayop.local.devenv import start_operator
from tests.helpers import wait_for
from tests.support.raycluster import cluster_pods, get_cluster, load_sample, wait_ready


def _live(core: Any, namespace: str, name: str) -> list[Any]:
    return [p for p in cluster_pods(core, namespace, name) if not p.metadata.deletion_timestamp]


def _multihost_cluster() -> dict[str, Any]:
    body = load_sample("ray-cluster.sample.yaml")
    group = body["spec"]["workerGroupSpecs"][0]
    group.update(groupName="slice", replicas=2, minReplicas=0, maxReplicas=4, numOfHosts=2)
    return body


def test_multihost_replica_group_is_replaced_as_a_whole_when_one_host_fails(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = _multihost_cluster()
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    wait_ready(custom, namespace, name)
    workers = [p for p in _live(core, namespace, name) if p.metadata.labels["ray.io/node-type"] == "worker"]
    replicas: dict[str, list[str]] = defaultdict(list)
    for p in workers:
        replicas[p.metadata.labels["ray.io/worker-group-replica-name"]].append(p.metadata.name)
    assert sorted(len(v) for v in replicas.values()) == [2, 2]
    broken_replica, healthy_replica = sorted(replicas)
    core.patch_namespaced_pod_status(replicas[broken_replica][0], namespace, {"status": {"phase": "Failed"}})

    def replaced() -> bool:
        names = {p.metadata.name for p in _live(core, namespace, name)}
        return (not names & set(replicas[broken_replica]) and set(replicas[healthy_replica]) <= names
                and len(names) == 5)

    wait_for(replaced, timeout=60, what="whole replica group replaced")
    indices = sorted(p.metadata.labels["ray.io/replica-host-index"] for p in _live(core, namespace, name)
                     if p.metadata.labels["ray.io/node-type"] == "worker")
    assert indices == ["0", "0", "1", "1"]


def test_recreate_upgrade_strategy_replaces_every_pod_on_spec_change(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    body["spec"]["upgradeStrategy"] = {"type": "Recreate"}
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    wait_ready(custom, namespace, name)
    before = {p.metadata.name for p in _live(core, namespace, name)}
    spec = copy.deepcopy(get_cluster(custom, namespace, name)["spec"])
    spec["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "NEW", "value": "1"}]
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name, {"spec": spec})

    def recreated() -> bool:
        pods = _live(core, namespace, name)
        return len(pods) == 2 and not {p.metadata.name for p in pods} & before

    wait_for(recreated, timeout=60, what="all pods recreated")
    wait_ready(custom, namespace, name)


def test_scaling_only_replicas_does_not_recreate_under_recreate_strategy(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    body["spec"]["upgradeStrategy"] = {"type": "Recreate"}
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    wait_ready(custom, namespace, name)
    head = next(p.metadata.name for p in _live(core, namespace, name)
                if p.metadata.labels["ray.io/node-type"] == "head")
    spec = copy.deepcopy(get_cluster(custom, namespace, name)["spec"])
    spec["workerGroupSpecs"][0].update(replicas=3, maxReplicas=5)
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name, {"spec": spec})
    wait_for(lambda: len(_live(core, namespace, name)) == 4, what="3 workers")
    assert head in {p.metadata.name for p in _live(core, namespace, name)}


def test_operator_killed_mid_scale_up_converges_without_duplicate_or_missing_pods(
        control_plane: Any, custom: Any, core: Any, private_namespace: str, tmp_path: Path) -> None:
    namespace = private_namespace
    comp, _ = start_operator(control_plane.kubeconfig, tmp_path, ["-n", namespace])
    try:
        body = load_sample("ray-cluster.sample.yaml")
        body["spec"]["workerGroupSpecs"][0].update(replicas=0, minReplicas=0, maxReplicas=200)
        name = body["metadata"]["name"]
        custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
        wait_ready(custom, namespace, name)
        spec = copy.deepcopy(get_cluster(custom, namespace, name)["spec"])
        spec["workerGroupSpecs"][0]["replicas"] = 120
        custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name, {"spec": spec})
        wait_for(lambda: len(cluster_pods(core, namespace, name)) >= 20, what="scale-up under way")
        assert comp.process is not None
        os.killpg(comp.process.pid, signal.SIGKILL)
        comp.process.wait(10)
        mid = len(cluster_pods(core, namespace, name))
        assert mid < 121, "the kill came after the scale-up finished; the test would prove nothing"
        comp, _ = start_operator(control_plane.kubeconfig, tmp_path, ["-n", namespace])
        # The killed leader's Lease must expire first (15 s), then the new process converges.
        wait_for(lambda: len(cluster_pods(core, namespace, name)) >= 121, timeout=120, what="scale-up finished")
        wait_ready(custom, namespace, name, timeout=120)
        time.sleep(2)  # anything a stale view would still do happens now
        pods = cluster_pods(core, namespace, name)
        assert len(pods) == 121, f"{len(pods)} pods after restart (had {mid} at the kill)"
        assert sum(p.metadata.labels["ray.io/node-type"] == "head" for p in pods) == 1
        assert len({p.metadata.name for p in pods}) == 121
    finally:
        comp.stop()


def test_metrics_endpoint_reports_kuberay_cluster_metrics(
        control_plane: Any, custom: Any, private_namespace: str, tmp_path: Path) -> None:
    import urllib.request

    from rayop.local.controlplane.processes import free_port

    port = free_port()
    comp, _ = start_operator(control_plane.kubeconfig, tmp_path, ["-n", private_namespace, "--metrics-port", str(port)])
    try:
        body = load_sample("ray-cluster.sample.yaml")
        name = body["metadata"]["name"]
        custom.create_namespaced_custom_object("ray.io", "v1", private_namespace, "rayclusters", body)
        wait_ready(custom, private_namespace, name)

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                return str(resp.read().decode())

        def provisioned() -> str | None:
            text = scrape()
            return text if "kuberay_cluster_provisioned_duration_seconds{" in text else None

        text = wait_for(provisioned, what="provisioned metric")
        assert f'kuberay_cluster_info{{name="{name}",namespace="{private_namespace}"' in text
        assert 'kuberay_cluster_condition_provisioned{' in text and 'condition="true"' in text
        assert 'controller_runtime_reconcile_total{controller="raycluster",result="success"}' in text
    finally:
        comp.stop()
