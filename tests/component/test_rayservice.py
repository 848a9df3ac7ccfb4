"""RayService mechanics on kwok: clusters, Services and status (kwok heads never answer HTTP, so nothing here ever
serves; the real-Serve behaviour is in tests/e2e/test_rayservice_real_ray.py).

One operator subprocess watches one private namespace for the whole module, so a test can stop it, lay down the
state an earlier operator would have left (an active cluster that serves an older spec, Services selecting it) and
start it again, or SIGKILL it in the middle of a rollout.
"""

from __future__ import annotations

import copy
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rayop.api.raycluster import RayCluster
from rayop.api.rayservice import RayService
from rayop.local.devenv import start_operator
from rayop.operator.builders.rayservice import (
    SERVE_CONFIG_HASH,
    build_cluster_for_service,
    build_service_head_service,
    build_service_serve_service,
)
from rayop.operator.runtime.children import owned
from rayop.serve_rollout.hashing import cluster_hash, serve_config_hash
from tests.helpers import wait_for

LEASE_ENV = {"RAYOP_LEADER_ELECTION__LEASE_DURATION_SECONDS": "4", "RAYOP_LEADER_ELECTION__RENEW_DEADLINE_SECONDS": "3",
             "RAYOP_LEADER_ELECTION__RETRY_PERIOD_SECONDS": "0.5"}
SERVE_CONFIG = """applications:
  - name: hello
    import_path: hello:app
    route_prefix: /
"""


def cluster_config(image: str = "rayproject/ray:2.60.0", worker: dict[str, Any] | None = None) -> dict[str, Any]:
    head = {"name": "ray-head", "image": image,
            "ports": [{"name": "gcs-server", "containerPort": 6379}, {"name": "dashboard", "containerPort": 8265},
                      {"name": "client", "containerPort": 10001}, {"name": "serve", "containerPort": 8000}],
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}}
    resources = worker or {"requests": {"cpu": "100m", "memory": "256Mi"}}
    return {"rayVersion": "2.60.0", "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {
        "containers": [head]}}},
        "workerGroupSpecs": [{"groupName": "small", "replicas": 1, "minReplicas": 1, "maxReplicas": 2,
                              "rayStartParams": {}, "template": {"spec": {"containers": [{
                                  "name": "ray-worker", "image": image, "resources": resources}]}}}]}


def rayservice(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": name},
            "spec": {"serveConfigV2": SERVE_CONFIG, "rayClusterConfig": cluster_config(), **spec}}


class OperatorHandle:
    def __init__(self, kubeconfig: Path, namespace: str, logdir: Path) -> None:
        self.kubeconfig, self.namespace, self.logdir = kubeconfig, namespace, logdir
        self.comp: Any = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        self.comp, _ = start_operator(self.kubeconfig, self.logdir / f"run{self.runs}", ["-n", self.namespace])

    def stop(self) -> None:
        self.comp.stop()

    def kill(self) -> None:
        os.killpg(self.comp.process.pid, signal.SIGKILL)
        self.comp.process.wait(10)


@pytest.fixture(scope="module")
def ops(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OperatorHandle, str]]:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(control_plane.kubeconfig), client_configuration=cfg)
    core = client.CoreV1Api(client.ApiClient(cfg))
    namespace = "p-rayservice"
    core.create_namespace({"metadata": {"name": namespace}})
    saved = {k: os.environ.get(k) for k in LEASE_ENV}
    os.environ.update(LEASE_ENV)
    handle = OperatorHandle(control_plane.kubeconfig, namespace, tmp_path_factory.mktemp("rayservice-op"))
    handle.start()
    try:
        yield handle, namespace
    finally:
        handle.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        core.delete_namespace(namespace)


def get(custom: Any, ns: str, name: str) -> dict[str, Any]:
    return dict(custom.get_namespaced_custom_object("ray.io", "v1", ns, "rayservices", name))


def status(custom: Any, ns: str, name: str) -> dict[str, Any]:
    return dict(get(custom, ns, name).get("status") or {})


def cond(custom: Any, ns: str, name: str, ctype: str) -> dict[str, Any]:
    return next((c for c in status(custom, ns, name).get("conditions") or [] if c["type"] == ctype), {})


def clusters_of(custom: Any, ns: str, name: str, alive_only: bool = False) -> list[dict[str, Any]]:
    items = custom.list_namespaced_custom_object("ray.io", "v1", ns, "rayclusters",
                                                 label_selector=f"ray.io/originated-from-cr-name={name}")["items"]
    return [c for c in items if not (alive_only and c["metadata"].get("deletionTimestamp"))]


def pending_name(custom: Any, ns: str, name: str) -> str | None:
    return (status(custom, ns, name).get("pendingServiceStatus") or {}).get("rayClusterName")


def events(core: Any, ns: str, name: str) -> list[tuple[str, str]]:
    items = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
    return [(e.reason, e.message) for e in items]


def seed_active(custom: Any, core: Any, ns: str, body: dict[str, Any], old_config: dict[str, Any]) -> str:
    """What an earlier operator leaves once ``old_config`` serves: its cluster active, the Services selecting it."""
    created = custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayservices", body)
    svc = RayService.parse({**created, "spec": {**created["spec"], "rayClusterConfig": old_config}})
    active = f"{svc.name}-seed1"
    cluster = build_cluster_for_service(svc, cluster_name=active, cluster_hash=cluster_hash(
        svc.spec.ray_cluster_config))
    cluster["metadata"]["annotations"][SERVE_CONFIG_HASH] = serve_config_hash(SERVE_CONFIG) or ""
    cluster = owned(cluster, created)
    custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayclusters", cluster)
    model = RayCluster.parse(cluster)
    for service in (build_service_head_service(svc, model), build_service_serve_service(svc, model)):
        core.create_namespaced_service(ns, owned(service, created))
    custom.patch_namespaced_custom_object_status("ray.io", "v1", ns, "rayservices", svc.name, {"status": {
        "activeServiceStatus": {"rayClusterName": active}, "observedGeneration": 1}})
    return active


def serve_selector(core: Any, ns: str, name: str) -> str | None:
    return core.read_namespaced_service(f"{name}-serve-svc", ns).spec.selector.get("ray.io/cluster")


# ---- first cluster, replacement, deletion ---------------------------------------------------------------------

def test_a_rayservice_creates_one_owned_cluster_named_like_kuberays(ops: Any, custom: Any) -> None:
    _, ns = ops
    custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayservices", rayservice("first"))
    name = wait_for(lambda: pending_name(custom, ns, "first"), timeout=30, what="pending name in status")
    [cluster] = wait_for(lambda: clusters_of(custom, ns, "first"), timeout=30, what="cluster created")
    meta = cluster["metadata"]
    assert meta["name"] == name and name.startswith("first-") and len(name) == len("first-") + 5
    assert meta["ownerReferences"][0]["kind"] == "RayService" and meta["ownerReferences"][0]["controller"]
    assert meta["labels"]["ray.io/originated-from-crd"] == "RayService"
    assert meta["annotations"]["ray.io/num-worker-groups"] == "1"
    assert meta["annotations"]["ray.io/hash-without-replicas-and-workers-to-delete"]
    assert "ray.io/rayservice-finalizer" in get(custom, ns, "first")["metadata"]["finalizers"]
    assert cond(custom, ns, "first", "Ready")["reason"] == "Initializing"


def test_a_spec_change_while_pending_replaces_the_pending_cluster_and_never_stacks_a_third(
        ops: Any, custom: Any) -> None:
    _, ns = ops
    custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayservices", rayservice("swap"))
    first = wait_for(lambda: clusters_of(custom, ns, "swap"), timeout=30)[0]["metadata"]["name"]
    custom.patch_namespaced_custom_object("ray.io", "v1", ns, "rayservices", "swap", {"spec": {
        "rayClusterConfig": cluster_config(image="rayproject/ray:2.60.0-py311")}})
    most = 0

    def replaced() -> str | None:
        nonlocal most
        alive = clusters_of(custom, ns, "swap", alive_only=True)
        most = max(most, len(alive))
        names = [c["metadata"]["name"] for c in alive]
        return names[0] if len(names) == 1 and names[0] != first else None

    second = wait_for(replaced, timeout=60, interval=0.05, what="replacement cluster")
    assert pending_name(custom, ns, "swap") == second
    assert most <= 1, "the replacement is created only once the replaced pending cluster is going"


def test_deleting_a_rayservice_waits_until_its_clusters_are_gone(ops: Any, custom: Any) -> None:
    _, ns = ops
    custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayservices", rayservice("gone"))
    wait_for(lambda: clusters_of(custom, ns, "gone"), timeout=30)
    custom.delete_namespaced_custom_object("ray.io", "v1", ns, "rayservices", "gone")

    def rayservice_gone() -> bool:
        try:
            get(custom, ns, "gone")
        except Exception:
            return True
        return False

    wait_for(rayservice_gone, timeout=60, what="RayService removed")
    assert clusters_of(custom, ns, "gone", alive_only=True) == []


def test_suspend_deletes_clusters_and_services_and_resume_starts_again(ops: Any, custom: Any) -> None:
    _, ns = ops
    custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayservices", rayservice("nap"))
    wait_for(lambda: clusters_of(custom, ns, "nap"), timeout=30)
    custom.patch_namespaced_custom_object("ray.io", "v1", ns, "rayservices", "nap", {"spec": {"suspend": True}})
    wait_for(lambda: cond(custom, ns, "nap", "Suspended").get("status") == "True", timeout=60, what="Suspended")
    assert clusters_of(custom, ns, "nap") == []
    assert cond(custom, ns, "nap", "Suspended")["reason"] == "SuspendComplete"
    custom.patch_namespaced_custom_object("ray.io", "v1", ns, "rayservices", "nap", {"spec": {"suspend": False}})
    wait_for(lambda: clusters_of(custom, ns, "nap"), timeout=30, what="a cluster after resume")
    assert cond(custom, ns, "nap", "Suspended")["reason"] == "RayServiceResumed"
    assert cond(custom, ns, "nap", "Ready")["reason"] == "Initializing"


def test_an_invalid_spec_is_reported_as_validation_failed(ops: Any, core: Any, custom: Any) -> None:
    _, ns = ops
    body = rayservice("bad", upgradeStrategy={"type": "Rolling"})
    custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayservices", body)
    ready = wait_for(lambda: cond(custom, ns, "bad", "Ready").get("reason") == "ValidationFailed"
                     and cond(custom, ns, "bad", "Ready"), timeout=30, what="ValidationFailed")
    assert "Spec.UpgradeStrategy.Type value Rolling is invalid" in ready["message"]
    assert clusters_of(custom, ns, "bad") == []
    assert any(r == "InvalidRayServiceSpec" for r, _ in events(core, ns, "bad"))


# ---- upgrades from a seeded active cluster --------------------------------------------------------------------

def test_an_upgrade_that_misses_its_deadline_is_abandoned_and_traffic_stays(ops: Any, core: Any,
                                                                            custom: Any) -> None:
    handle, ns = ops
    handle.stop()
    body = rayservice("late")
    body["metadata"]["annotations"] = {"rayop.io/upgrade-timeout-seconds": "6"}
    old = cluster_config(image="rayproject/ray:2.59.0")
    active = seed_active(custom, core, ns, body, old)
    handle.start()
    pending = wait_for(lambda: pending_name(custom, ns, "late"), timeout=30, what="pending cluster")
    assert pending != active
    abandoned = wait_for(lambda: cond(custom, ns, "late", "UpgradeAbandoned").get("status") == "True"
                         and cond(custom, ns, "late", "UpgradeAbandoned"), timeout=60, what="abandoned")
    assert pending in abandoned["message"] and "did not serve within 6 s" in abandoned["message"]
    wait_for(lambda: [c["metadata"]["name"] for c in clusters_of(custom, ns, "late", alive_only=True)] == [active],
             timeout=30, what="only the active cluster left")
    assert serve_selector(core, ns, "late") == active
    assert pending_name(custom, ns, "late") is None
    assert (status(custom, ns, "late")["activeServiceStatus"] or {})["rayClusterName"] == active
    assert any(r == "UpgradeAbandoned" for r, _ in events(core, ns, "late"))


def test_an_upgrade_that_cannot_fit_is_reported_instead_of_left_pending(ops: Any, core: Any, custom: Any) -> None:
    handle, ns = ops
    handle.stop()
    gpus = {"limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "16"}}
    body = rayservice("big", rayClusterConfig=cluster_config(worker=gpus))
    active = seed_active(custom, core, ns, body, cluster_config())
    handle.start()
    fits = wait_for(lambda: cond(custom, ns, "big", "PendingClusterFits").get("status") == "False"
                    and cond(custom, ns, "big", "PendingClusterFits"), timeout=30, what="capacity condition")
    assert fits["reason"] == "InsufficientCapacity" and "nvidia.com/gpu=16" in fits["message"]
    assert [c["metadata"]["name"] for c in clusters_of(custom, ns, "big")] == [active]
    assert serve_selector(core, ns, "big") == active


@pytest.mark.parametrize("kill_at", ["pending-named", "pending-created"])
def test_an_operator_killed_mid_upgrade_resumes_the_same_rollout(ops: Any, core: Any, custom: Any,
                                                                 kill_at: str) -> None:
    handle, ns = ops
    handle.stop()
    name = f"crash-{kill_at.split('-')[1]}"
    active = seed_active(custom, core, ns, rayservice(name), cluster_config(image="rayproject/ray:2.59.0"))
    handle.start()
    if kill_at == "pending-named":
        pending = wait_for(lambda: pending_name(custom, ns, name), timeout=30, interval=0.01, what="pending named")
    else:
        wait_for(lambda: len(clusters_of(custom, ns, name)) == 2, timeout=30, interval=0.01, what="pending created")
        pending = pending_name(custom, ns, name)
    handle.kill()
    handle.start()
    wait_for(lambda: len(clusters_of(custom, ns, name)) == 2, timeout=30, what="pending cluster after restart")
    time.sleep(3)  # passes of the restarted operator: none may add a cluster or move traffic
    names = sorted(c["metadata"]["name"] for c in clusters_of(custom, ns, name))
    assert names == sorted([active, pending]), "the named pending cluster, no third one"
    assert pending_name(custom, ns, name) == pending
    assert serve_selector(core, ns, name) == active
    assert cond(custom, ns, name, "UpgradeInProgress")["reason"] == "BothActivePendingClustersExist"
    active_obj = custom.get_namespaced_custom_object("ray.io", "v1", ns, "rayclusters", active)
    assert active_obj["metadata"]["annotations"][SERVE_CONFIG_HASH] == serve_config_hash(SERVE_CONFIG)


def test_seeded_state_is_what_a_real_rollout_leaves(ops: Any) -> None:
    """The seeding helper builds with the operator's own builders, so the operator reads it as its own state."""
    svc = RayService.parse(copy.deepcopy({**rayservice("x"), "metadata": {"name": "x", "namespace": "n"}}))
    cluster = build_cluster_for_service(svc, cluster_name="x-abcde", cluster_hash="h")
    assert cluster["metadata"]["labels"]["ray.io/originated-from-cr-name"] == "x"
