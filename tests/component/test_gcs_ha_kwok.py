"""GCS fault tolerance on the real control plane (kwok pods) with a real redis-server: the operator probes Redis,
registers the storage namespace, and on deletion deletes every ``RAY<ns>@*`` key itself — or, when it cannot
(Redis stopped, wrong password, Secret deleted), releases the finalizer by ``ray.io/gcs-ft-deletion-timeout`` with
KubeRay's ``ForceDeletedStuckCluster`` Warning naming the namespace left behind."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from rayop.gcs_ha.address import parse_address, storage_namespace_of
from rayop.gcs_ha.gc import live_from, run_gc
from rayop.gcs_ha.store import REGISTRY_KEY, RedisStore
from tests.helpers import wait_for
from tests.support.raycluster import get_cluster, load_sample
from tests.support.redis_server import redis_server as start_redis

FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"
TABLES = ("KV", "NODE", "ACTOR", "JOB")


def _secret(core: Any, namespace: str, name: str, password: str) -> None:
    core.create_namespaced_secret(namespace, {"metadata": {"name": name}, "stringData": {"password": password}})


def _ft_cluster(name: str, address: str, *, secret: str = "redis-pw", timeout: int | None = None) -> dict[str, Any]:
    body = load_sample("ray-cluster.sample.yaml")
    body["metadata"]["name"] = name
    if timeout is not None:
        body["metadata"].setdefault("annotations", {})["ray.io/gcs-ft-deletion-timeout"] = str(timeout)
    body["spec"]["gcsFaultToleranceOptions"] = {
        "redisAddress": address,
        "redisPassword": {"valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}}
    return body


def _create(custom: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body))


def _condition(custom: Any, namespace: str, name: str, ctype: str) -> dict[str, Any] | None:
    conds = (get_cluster(custom, namespace, name).get("status") or {}).get("conditions") or []
    return next((c for c in conds if c["type"] == ctype), None)


def _wait_reachable(custom: Any, namespace: str, name: str, status: str = "True") -> dict[str, Any]:
    return wait_for(lambda: (c := _condition(custom, namespace, name, "RedisReachable")) and c["status"] == status
                    and c, timeout=30, what=f"RedisReachable={status}")


def _seed(server: Any, ns: str) -> None:
    r = server.client()
    for table in TABLES:
        r.hset(f"RAY{ns}@{table}", "f", "v")


def _keys(server: Any, ns: str) -> list[str]:
    return list(server.client().scan_iter(match=f"RAY{ns}@*"))


def _gone(custom: Any, namespace: str, name: str) -> bool:
    try:
        get_cluster(custom, namespace, name)
    except ApiException as exc:
        return exc.status == 404
    return False


def _events(core: Any, namespace: str, reason: str) -> list[Any]:
    return [e for e in core.list_namespaced_event(namespace).items if e.reason == reason]


def test_deleting_an_ft_cluster_deletes_every_key_of_its_namespace(
        operator: Any, custom: Any, core: Any, namespace: str, redis_server: Any) -> None:
    _secret(core, namespace, "redis-pw", redis_server.password)
    created = _create(custom, namespace, _ft_cluster("ft-clean", redis_server.address))
    uid = created["metadata"]["uid"]
    _wait_reachable(custom, namespace, "ft-clean")
    assert FINALIZER in get_cluster(custom, namespace, "ft-clean")["metadata"]["finalizers"]
    assert redis_server.client().hexists(REGISTRY_KEY, uid)
    _seed(redis_server, uid)
    _seed(redis_server, uid + "-other")
    custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", "ft-clean")
    wait_for(lambda: _gone(custom, namespace, "ft-clean"), timeout=60, what="cluster gone")
    assert _keys(redis_server, uid) == []
    assert len(_keys(redis_server, uid + "-other")) == len(TABLES)
    assert not redis_server.client().hexists(REGISTRY_KEY, uid)


def test_wrong_password_is_a_condition_and_warning_and_deletion_finishes_by_the_deadline(
        operator: Any, custom: Any, core: Any, namespace: str, redis_server: Any) -> None:
    _secret(core, namespace, "redis-pw", "not-the-password")
    uid = _create(custom, namespace, _ft_cluster("ft-wrongpw", redis_server.address, timeout=3))["metadata"]["uid"]
    cond = _wait_reachable(custom, namespace, "ft-wrongpw", "False")
    assert cond["reason"] == "RedisAuthenticationFailed"
    wait_for(lambda: _events(core, namespace, "RedisAuthenticationFailed"), timeout=15, what="Warning event")
    custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", "ft-wrongpw")
    wait_for(lambda: _gone(custom, namespace, "ft-wrongpw"), timeout=30, what="cluster gone by the deadline")
    events = wait_for(lambda: _events(core, namespace, "ForceDeletedStuckCluster"), timeout=10, what="event")
    assert events[0].type == "Warning" and uid in events[0].message


def test_deletion_with_redis_stopped_finishes_by_the_deadline(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    with start_redis() as own:
        _secret(core, namespace, "redis-pw", own.password)
        uid = _create(custom, namespace, _ft_cluster("ft-down", own.address, timeout=3))["metadata"]["uid"]
        _wait_reachable(custom, namespace, "ft-down")
        own.stop()
        cond = _wait_reachable(custom, namespace, "ft-down", "False")
        assert cond["reason"] == "RedisUnreachable"
        custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", "ft-down")
        wait_for(lambda: _gone(custom, namespace, "ft-down"), timeout=30, what="cluster gone by the deadline")
    events = wait_for(lambda: _events(core, namespace, "ForceDeletedStuckCluster"), timeout=10, what="event")
    assert uid in events[0].message


def test_orphan_sweep_removes_what_a_forced_deletion_left_and_leaves_live_clusters_alone(
        operator: Any, custom: Any, core: Any, namespace: str, redis_server: Any) -> None:
    _secret(core, namespace, "pw-a", redis_server.password)
    _secret(core, namespace, "pw-b", redis_server.password)
    left = _create(custom, namespace, _ft_cluster("ft-left", redis_server.address, secret="pw-a", timeout=3))
    live = _create(custom, namespace, _ft_cluster("ft-live", redis_server.address, secret="pw-b"))
    left_ns, live_ns = left["metadata"]["uid"], live["metadata"]["uid"]
    for name in ("ft-left", "ft-live"):
        _wait_reachable(custom, namespace, name)
    _seed(redis_server, left_ns)
    _seed(redis_server, live_ns)
    core.delete_namespaced_secret("pw-a", namespace)  # the cleanup cannot find its password: forced deletion
    custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", "ft-left")
    wait_for(lambda: _gone(custom, namespace, "ft-left"), timeout=30, what="forced deletion")
    wait_for(lambda: _events(core, namespace, "ForceDeletedStuckCluster"), timeout=10, what="event")
    assert len(_keys(redis_server, left_ns)) == len(TABLES)

    bodies = custom.list_cluster_custom_object("ray.io", "v1", "rayclusters")["items"]
    store = RedisStore(parse_address(redis_server.address, password=redis_server.password))
    swept = asyncio.run(run_gc(store, live_from(bodies, storage_namespace_of), yes=True, confirm=lambda _: False,
                               out=io.StringIO()))
    assert left_ns in [s.registration.storage_namespace for s in swept]
    assert live_ns not in [s.registration.storage_namespace for s in swept]
    assert _keys(redis_server, left_ns) == []
    assert len(_keys(redis_server, live_ns)) == len(TABLES)


@pytest.mark.parametrize("ft", [True, False], ids=["legacy-ft", "no-ft"])
def test_a_cluster_kuberay_created_with_its_cleanup_finalizer_is_not_stuck(
        ft: bool, operator: Any, custom: Any, core: Any, namespace: str, redis_server: Any) -> None:
    body = load_sample("ray-cluster.sample.yaml")
    name = f"kuberay-{'ft' if ft else 'plain'}"
    body["metadata"].update(name=name, finalizers=[FINALIZER])
    if ft:  # KubeRay's legacy wiring: the annotation, RAY_REDIS_ADDRESS in the head env, a literal password
        body["metadata"]["annotations"] = {"ray.io/ft-enabled": "true"}
        head = body["spec"]["headGroupSpec"]
        head.setdefault("rayStartParams", {})["redis-password"] = redis_server.password
        head["template"]["spec"]["containers"][0].setdefault("env", []).append(
            {"name": "RAY_REDIS_ADDRESS", "value": redis_server.address})
    uid = _create(custom, namespace, body)["metadata"]["uid"]
    _seed(redis_server, uid)
    if ft:
        _wait_reachable(custom, namespace, name)
    custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name)
    wait_for(lambda: _gone(custom, namespace, name), timeout=30, what="cluster gone")
    assert (_keys(redis_server, uid) == []) is ft


def test_a_deleted_head_is_recreated_workers_kept_and_recovery_reported(
        operator: Any, custom: Any, core: Any, namespace: str, redis_server: Any) -> None:
    from tests.support.raycluster import cluster_pods, wait_ready

    _secret(core, namespace, "redis-pw", redis_server.password)
    _create(custom, namespace, _ft_cluster("ft-head", redis_server.address))
    wait_ready(custom, namespace, "ft-head")
    wait_for(lambda: _condition(custom, namespace, "ft-head", "HeadRecovery"), timeout=30, what="HeadRecovery")

    def by_type(kind: str) -> set[str]:
        return {p.metadata.name for p in cluster_pods(core, namespace, "ft-head")
                if p.metadata.labels["ray.io/node-type"] == kind and not p.metadata.deletion_timestamp}

    workers, (head,) = by_type("worker"), by_type("head")
    core.delete_namespaced_pod(head, namespace)
    recovered = wait_for(lambda: (c := _condition(custom, namespace, "ft-head", "HeadRecovery"))
                         and c["reason"] == "HeadPodRecovered" and c, timeout=60, what="HeadPodRecovered")
    assert by_type("head") and head not in by_type("head")
    assert by_type("worker") == workers
    assert "after the head was lost" in recovered["message"]
    assert _events(core, namespace, "HeadPodLost") and _events(core, namespace, "HeadPodRecovered")
