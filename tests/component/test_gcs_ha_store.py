"""The Redis side of GCS fault tolerance against a real redis-server: key cleanup, the registry, failure reasons."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from rayop.gcs_ha.address import parse_address
from rayop.gcs_ha.gc import LiveClusters, run_gc
from rayop.gcs_ha.registry import Registration
from rayop.gcs_ha.store import REGISTRY_KEY, RedisFailure, RedisStore

TABLES = ("KV", "NODE", "ACTOR", "ACTOR_TASK_SPEC", "JOB", "WORKERS", "JobCounter")


@pytest.fixture(scope="module")
def redis_server() -> Any:
    """This module's own Redis: its registry assertions must not see the registrations of the operator tests."""
    from tests.support.redis_server import redis_server as start

    with start() as server:
        yield server


def _seed(redis_server: Any, ns: str) -> None:
    r = redis_server.client()
    for table in TABLES:
        r.hset(f"RAY{ns}@{table}", "f", "v")


def _store(redis_server: Any, password: str | None = None) -> RedisStore:
    return RedisStore(parse_address(redis_server.address, password=password or redis_server.password), timeout=1)


def test_delete_namespace_removes_every_key_of_the_namespace_and_only_those(redis_server: Any) -> None:
    _seed(redis_server, "del-a")
    _seed(redis_server, "del-ab")
    deleted = asyncio.run(_store(redis_server).delete_namespace("del-a"))
    r = redis_server.client()
    assert deleted == len(TABLES)
    assert list(r.scan_iter(match="RAYdel-a@*")) == []
    assert len(list(r.scan_iter(match="RAYdel-ab@*"))) == len(TABLES)


def test_a_namespace_with_glob_characters_deletes_only_its_own_keys(redis_server: Any) -> None:
    _seed(redis_server, "g*")
    _seed(redis_server, "gx")
    asyncio.run(_store(redis_server).delete_namespace("g*"))
    assert len(list(redis_server.client().scan_iter(match="RAYgx@*"))) == len(TABLES)


def test_wrong_password_is_classified_as_authentication_failure(redis_server: Any) -> None:
    with pytest.raises(RedisFailure) as err:
        asyncio.run(_store(redis_server, password="wrong").ping("x"))
    assert err.value.reason == "RedisAuthenticationFailed"


def test_nothing_listening_is_classified_as_unreachable() -> None:
    with pytest.raises(RedisFailure) as err:
        asyncio.run(RedisStore(parse_address("127.0.0.1:1"), timeout=1).ping("x"))
    assert err.value.reason == "RedisUnreachable"


def test_gc_deletes_orphans_and_leaves_live_and_unregistered_namespaces(redis_server: Any) -> None:
    store = _store(redis_server)
    orphan, live = Registration("gc-orphan", "t", "gone", "uid-gone"), Registration("gc-live", "t", "here", "uid-1")
    for entry in (orphan, live):
        asyncio.run(store.register(entry.storage_namespace, entry.record()))
        _seed(redis_server, entry.storage_namespace)
    _seed(redis_server, "gc-not-ours")
    out = io.StringIO()
    swept = asyncio.run(run_gc(store, LiveClusters({"uid-1"}, {"gc-live"}), yes=True, confirm=lambda _: False,
                               out=out))
    r = redis_server.client()
    assert [s.registration for s in swept] == [orphan] and "gc-orphan" in out.getvalue()
    assert list(r.scan_iter(match="RAYgc-orphan@*")) == []
    assert len(list(r.scan_iter(match="RAYgc-live@*"))) == len(TABLES)
    assert len(list(r.scan_iter(match="RAYgc-not-ours@*"))) == len(TABLES)
    assert not r.hexists(REGISTRY_KEY, "gc-orphan") and r.hexists(REGISTRY_KEY, "gc-live")


def test_gc_without_confirmation_deletes_nothing(redis_server: Any) -> None:
    store = _store(redis_server)
    asyncio.run(store.register("gc-keep", Registration("gc-keep", "t", "gone", "uid-x").record()))
    _seed(redis_server, "gc-keep")
    swept = asyncio.run(run_gc(store, LiveClusters(set(), set()), yes=False, confirm=lambda _: False,
                               out=io.StringIO()))
    assert swept == [] and len(list(redis_server.client().scan_iter(match="RAYgc-keep@*"))) == len(TABLES)


def test_the_periodic_sweep_deletes_orphans_of_watched_namespaces_only(redis_server: Any) -> None:
    """The operator's sweep against a real Redis; the RayCluster cache is a stand-in holding one live cluster."""
    from types import SimpleNamespace

    from rayop.operator.raycluster.gcs_sweep import OrphanSweeper
    from rayop.operator.settings import Settings

    class Cache:
        def __init__(self) -> None:
            self.synced = asyncio.Event()
            self.synced.set()

        def items(self) -> list[dict[str, Any]]:
            return [{"metadata": {"uid": "uid-live"}, "spec": {"gcsFaultToleranceOptions": {}}}]

    store = _store(redis_server)
    entries = [Registration("sw-gone", "t-a", "gone", "uid-gone"), Registration("sw-live", "t-a", "live", "uid-live"),
               Registration("sw-elsewhere", "other", "gone", "uid-other")]
    for entry in entries:
        asyncio.run(store.register(entry.storage_namespace, entry.record()))
        _seed(redis_server, entry.storage_namespace)
    cache = Cache()
    runtime = SimpleNamespace(informers=SimpleNamespace(get=lambda _: cache), watched=lambda ns: ns.startswith("t-"))
    ctx = SimpleNamespace(runtime=runtime, settings=Settings(gcs_ha={"orphan_sweep_interval_seconds": 60}))
    sweeper = OrphanSweeper(ctx, {store.target}, lambda t: RedisStore(t, timeout=1))  # type: ignore[arg-type]
    assert asyncio.run(sweeper.sweep_once()) == 1
    r = redis_server.client()
    assert list(r.scan_iter(match="RAYsw-gone@*")) == []
    assert len(list(r.scan_iter(match="RAYsw-live@*"))) == len(TABLES)
    assert len(list(r.scan_iter(match="RAYsw-elsewhere@*"))) == len(TABLES)


@pytest.fixture(scope="module")
def tls_redis_server() -> Any:
    """A TLS-only redis-server whose certificate a throwaway CA signed."""
    from tests.support.redis_server import redis_server as start

    with start(tls=True) as server:
        yield server


def _tls_store(server: Any, ca_file: str | None) -> RedisStore:
    return RedisStore(parse_address(server.address, password=server.password), timeout=2, ca_file=ca_file)


def test_a_rediss_address_with_the_servers_ca_probes_and_deletes_over_tls(tls_redis_server: Any) -> None:
    _seed(tls_redis_server, "tls-a")
    store = _tls_store(tls_redis_server, str(tls_redis_server.ca_file))
    assert asyncio.run(store.ping("tls-a")).keys == len(TABLES)
    assert asyncio.run(store.delete_namespace("tls-a")) == len(TABLES)
    assert list(tls_redis_server.client().scan_iter(match="RAYtls-a@*")) == []


def test_a_rediss_server_the_trust_store_does_not_know_is_unreachable_with_the_certificate_error(
        tls_redis_server: Any) -> None:
    with pytest.raises(RedisFailure) as err:
        asyncio.run(_tls_store(tls_redis_server, None).ping("x"))
    assert err.value.reason == "RedisUnreachable"
    assert "certificate verify failed" in err.value.message


def test_a_plain_redis_address_to_a_tls_port_does_not_answer() -> None:
    from tests.support.redis_server import redis_server as start

    with start(tls=True) as server, pytest.raises(RedisFailure) as err:
        plain = parse_address(f"127.0.0.1:{server.port}", password=server.password)
        asyncio.run(RedisStore(plain, timeout=1).ping("x"))
    assert err.value.reason == "RedisUnreachable"
