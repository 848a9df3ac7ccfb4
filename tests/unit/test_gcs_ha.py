"""GCS fault tolerance, the pure parts: Redis address and credentials, registry and orphans, the deletion steps,
the head-recovery condition, and the head/worker wiring KubeRay's ``configureGCSFaultTolerance`` does."""

from __future__ import annotations

import asyncio

import pytest

from rayop.gcs_ha import deletion, recovery
from rayop.gcs_ha.address import Credential, RedisConfigError, RedisSettings, parse_address, redis_settings
from rayop.gcs_ha.credentials import resolve
from rayop.gcs_ha.registry import Registration, find_orphans, parse_registry
from rayop.gcs_ha.store import key_pattern
from rayop.operator.builders.pod import build_head_pod, build_worker_pod
from tests.unit.raycluster_fixtures import env_of, make_cluster

SECRET_PW = {"valueFrom": {"secretKeyRef": {"name": "redis-secret", "key": "password"}}}


class Reader:
    def __init__(self, secrets: dict[tuple[str, str, str], str]) -> None:
        self.secrets = secrets

    async def secret_key(self, namespace: str, name: str, key: str) -> str | None:
        return self.secrets.get((namespace, name, key))

    async def config_map_key(self, namespace: str, name: str, key: str) -> str | None:
        return None


# -- address -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("address", "host", "port", "ssl"), [
    ("redis:6379", "redis", 6379, False),
    ("redis://redis.ns.svc:6380", "redis.ns.svc", 6380, False),
    ("rediss://secure:6390", "secure", 6390, True),
    ("10.0.0.1", "10.0.0.1", 6379, False),
    ("a:1,b:2", "a", 1, False),
])
def test_redis_address_is_parsed_like_kuberays_cleanup_job(address: str, host: str, port: int, ssl: bool) -> None:
    target = parse_address(address)
    assert (target.host, target.port, target.ssl) == (host, port, ssl)


def test_credentials_inside_the_uri_are_the_fallback_and_explicit_ones_win() -> None:
    assert parse_address("redis://u:p%40ss@h:1").password == "p@ss"
    assert parse_address("redis://u:p@h:1").username == "u"
    assert parse_address("redis://u:p@h:1", password="x", username="v").password == "x"


@pytest.mark.parametrize(("address", "reason"), [("", "RedisAddressMissing"), ("http://h:1", "InvalidRedisAddress"),
                                                 ("redis://h:notaport", "InvalidRedisAddress")])
def test_unusable_redis_address_is_a_config_error_with_a_reason(address: str, reason: str) -> None:
    with pytest.raises(RedisConfigError) as err:
        parse_address(address)
    assert err.value.reason == reason


def test_password_never_appears_in_the_targets_repr() -> None:
    assert "hunter2" not in repr(parse_address("h:1", password="hunter2"))


def test_options_give_address_and_secret_reference() -> None:
    cluster = make_cluster(**{"spec.gcsFaultToleranceOptions": {"redisAddress": "r:6379", "redisPassword": SECRET_PW,
                                                                "redisUsername": {"value": "ray"}}})
    settings = redis_settings(cluster)
    assert settings.address == Credential(value="r:6379")
    assert settings.password == Credential(secret=("redis-secret", "password"))
    assert settings.username == Credential(value="ray")


def test_legacy_annotation_reads_the_head_env_and_literal_redis_password_param() -> None:
    env = [{"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}]
    cluster = make_cluster(**{"metadata.annotations": {"ray.io/ft-enabled": "true"},
                              "spec.headGroupSpec.template.spec.containers.0.env": env,
                              "spec.headGroupSpec.rayStartParams": {"redis-password": "5241590000000000"}})
    settings = redis_settings(cluster)
    assert settings.address == Credential(value="redis:6379")
    assert settings.password == Credential(value="5241590000000000")


def test_resolve_reads_the_secret_in_the_clusters_namespace() -> None:
    settings = RedisSettings(Credential(value="h:1"), None, Credential(secret=("s", "k")))
    target = asyncio.run(resolve(settings, "team", Reader({("team", "s", "k"): "pw"})))
    assert target.password == "pw"


def test_a_missing_secret_is_reported_as_redis_secret_not_found() -> None:
    settings = RedisSettings(Credential(value="h:1"), None, Credential(secret=("gone", "k")))
    with pytest.raises(RedisConfigError) as err:
        asyncio.run(resolve(settings, "team", Reader({})))
    assert err.value.reason == "RedisSecretNotFound" and "team/gone" in err.value.message


def test_key_pattern_matches_rays_prefix_and_escapes_glob_characters() -> None:
    assert key_pattern("0b2f") == "RAY0b2f@*"
    assert key_pattern("a*b[c]") == "RAYa\\*b\\[c\\]@*"


# -- registry ------------------------------------------------------------------------------------------------------
def test_registry_ignores_entries_rayop_did_not_write() -> None:
    mine = Registration("ns1", "team", "c1", "uid-1")
    raw = {"ns1": mine.record(), "foreign": '{"uid": "x"}', "junk": "not json"}
    assert parse_registry(raw) == [mine]


def test_orphans_are_registered_namespaces_whose_cluster_is_gone() -> None:
    gone, live = Registration("ns-gone", "t", "a", "uid-a"), Registration("ns-live", "t", "b", "uid-b")
    assert find_orphans([gone, live], live_uids={"uid-b"}, namespaces_in_use={"ns-live"}) == [gone]


def test_a_namespace_reused_by_a_live_cluster_is_not_an_orphan() -> None:
    old = Registration("shared", "t", "a", "uid-old")
    assert find_orphans([old], live_uids={"uid-new"}, namespaces_in_use={"shared"}) == []


# -- deletion ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("annotation", "seconds"), [(None, 300.0), ("20", 20.0), ("x", 300.0), ("-5", 300.0)])
def test_deletion_timeout_comes_from_the_annotation(annotation: str | None, seconds: float) -> None:
    annotations = {} if annotation is None else {"ray.io/gcs-ft-deletion-timeout": annotation}
    assert deletion.deletion_timeout(annotations) == seconds


def _view(**changes: object) -> deletion.DeletionView:
    base: dict[str, object] = dict(elapsed=1.0, deadline=300.0, pods_to_delete=(), head_present=False, cleaned=None,
                                   cleanup_running=False, attempts=0, since_last_failure=None)
    base.update(changes)
    return deletion.DeletionView(**base)  # type: ignore[arg-type]


def test_deletion_deletes_pods_then_waits_for_the_head_then_cleans() -> None:
    assert deletion.next_step(_view(pods_to_delete=("h", "w"), head_present=True)).kind == "delete-pods"
    assert deletion.next_step(_view(head_present=True)).kind == "wait-head"
    assert deletion.next_step(_view()).kind == "cleanup"
    assert deletion.next_step(_view(cleaned=True)).kind == "done"


def test_failed_cleanup_is_retried_after_a_growing_backoff() -> None:
    assert deletion.next_step(_view(cleaned=False, attempts=3, since_last_failure=1.0)) == deletion.Step(
        "retry", after=3.0)
    assert deletion.next_step(_view(cleaned=False, attempts=3, since_last_failure=5.0)).kind == "cleanup"
    assert deletion.backoff(20) == deletion.BACKOFF_CAP_SECONDS


def test_the_deadline_force_removes_even_while_the_head_is_still_there() -> None:
    assert deletion.next_step(_view(elapsed=301.0, head_present=True, cleaned=False)).kind == "force-remove"


def test_force_removed_message_is_kuberays_and_names_the_namespace() -> None:
    assert deletion.force_removed_message(300.4, "abc") == (
        "Force-removed GCS FT finalizer after 300s due to Redis cleanup timeout; Redis storage namespace 'abc' "
        "may need manual cleanup")


# -- recovery ------------------------------------------------------------------------------------------------------
def _recover(previous: dict, head: str | None, ready: bool, now: str) -> tuple[dict | None, recovery.Event | None]:
    return recovery.recovery_condition(head_name=head, head_ready=ready, previous=previous, previous_head="head-1",
                                       storage_namespace="ns", generation=1, now=now)


def test_head_recovery_goes_lost_restarting_recovered_with_its_duration() -> None:
    t0, t1, t2, t3 = (f"2026-12-02T05:00:{s:02d}Z" for s in (0, 10, 12, 17))
    running, event = _recover({}, "head-1", True, t0)
    assert running is not None and running["reason"] == recovery.RUNNING and event is None
    lost, event = _recover({recovery.HEAD_RECOVERY: running}, None, False, t1)
    assert lost is not None and lost["status"] == "False" and event is not None and event.warning
    restarting, event = _recover({recovery.HEAD_RECOVERY: lost}, "head-2", False, t2)
    assert restarting is not None and restarting["reason"] == recovery.RESTARTING
    assert restarting["lastTransitionTime"] == t1 and event is not None and not event.warning
    recovered, event = _recover({recovery.HEAD_RECOVERY: restarting}, "head-2", True, t3)
    assert recovered is not None and recovered["reason"] == recovery.RECOVERED and "7.0s" in recovered["message"]
    assert event is not None and event.reason == recovery.RECOVERED


def test_a_head_that_never_was_ready_is_not_reported_as_lost() -> None:
    assert _recover({}, None, False, "2026-12-02T05:00:00Z") == (None, None)


def test_a_repeated_observation_emits_no_second_event() -> None:
    running, _ = _recover({}, "head-1", True, "2026-12-02T05:00:00Z")
    lost, _ = _recover({recovery.HEAD_RECOVERY: running}, None, False, "2026-12-02T05:00:01Z")
    assert _recover({recovery.HEAD_RECOVERY: lost}, None, False, "2026-12-02T05:00:02Z")[1] is None


# -- wiring (KubeRay's configureGCSFaultTolerance) ----------------------------------------------------------------
def test_head_without_ft_is_annotated_ft_enabled_false_and_gets_no_redis_env() -> None:
    head = build_head_pod(make_cluster(), name="h")
    assert head["metadata"]["annotations"]["ray.io/ft-enabled"] == "false"
    assert "RAY_external_storage_namespace" not in env_of(head["spec"]["containers"][0])


def test_legacy_annotation_copies_a_literal_redis_password_into_the_env() -> None:
    cluster = make_cluster(**{"metadata.annotations": {"ray.io/ft-enabled": "true"},
                              "spec.headGroupSpec.rayStartParams": {"redis-password": "pw"}})
    env = env_of(build_head_pod(cluster, name="h")["spec"]["containers"][0])
    assert env["REDIS_PASSWORD"] == {"name": "REDIS_PASSWORD", "value": "pw"}
    assert "RAY_REDIS_ADDRESS" not in env


def test_redis_username_becomes_env_and_a_start_param_reference() -> None:
    ft = {"redisAddress": "r:1", "redisUsername": {"value": "ray"}}
    head = build_head_pod(make_cluster(**{"spec.gcsFaultToleranceOptions": ft}), name="h")
    assert env_of(head["spec"]["containers"][0])["REDIS_USERNAME"]["value"] == "ray"
    assert " --redis-username=$REDIS_USERNAME " in head["spec"]["containers"][0]["args"][0]


def test_external_storage_namespace_option_overrides_the_uid() -> None:
    ft = {"redisAddress": "r:1", "externalStorageNamespace": "mine"}
    head = build_head_pod(make_cluster(**{"spec.gcsFaultToleranceOptions": ft}), name="h")
    assert env_of(head["spec"]["containers"][0])["RAY_external_storage_namespace"]["value"] == "mine"
    assert head["metadata"]["annotations"]["ray.io/external-storage-namespace"] == "mine"


def test_a_workers_own_reconnect_timeout_is_kept() -> None:
    cluster = make_cluster(**{
        "spec.gcsFaultToleranceOptions": {"redisAddress": "r:1"},
        "spec.workerGroupSpecs.0.template.spec.containers.0.env": [
            {"name": "RAY_gcs_rpc_server_reconnect_timeout_s", "value": "30"}]})
    worker = build_worker_pod(cluster, cluster.spec.worker_group_specs[0], name="w")
    assert env_of(worker["spec"]["containers"][0])["RAY_gcs_rpc_server_reconnect_timeout_s"]["value"] == "30"


def test_workers_get_no_storage_namespace_or_redis_env() -> None:
    cluster = make_cluster(**{"spec.gcsFaultToleranceOptions": {"redisAddress": "r:1", "redisPassword": SECRET_PW}})
    env = env_of(build_worker_pod(cluster, cluster.spec.worker_group_specs[0], name="w")["spec"]["containers"][0])
    assert not {"RAY_REDIS_ADDRESS", "REDIS_PASSWORD", "RAY_external_storage_namespace"} & set(env)


@pytest.mark.parametrize("changes", [
    {"spec.gcsFaultToleranceOptions": {"redisAddress": "r:1"}},
    {"spec.gcsFaultToleranceOptions": {"redisAddress": "r:1", "externalStorageNamespace": "mine"}},
    {"metadata.annotations": {"ray.io/ft-enabled": "true", "ray.io/external-storage-namespace": "legacy"}},
])
def test_the_collectors_storage_namespace_rule_is_the_builders(changes: dict) -> None:
    from rayop.gcs_ha.address import storage_namespace_of
    from rayop.operator.builders.gcs_ft import external_storage_namespace

    cluster = make_cluster(**changes)
    assert storage_namespace_of(cluster.model_dump(by_alias=True, exclude_none=True)) == \
        external_storage_namespace(cluster)


def test_a_cluster_without_ft_uses_no_storage_namespace() -> None:
    from rayop.gcs_ha.address import storage_namespace_of

    assert storage_namespace_of(make_cluster().model_dump(by_alias=True, exclude_none=True)) is None


def test_a_head_replaced_between_two_status_writes_is_reported_as_recovered() -> None:
    running, _ = _recover({}, "head-1", True, "2026-12-02T05:00:00Z")
    cond, event = recovery.recovery_condition(
        head_name="head-2", head_ready=True, previous={recovery.HEAD_RECOVERY: running}, previous_head="head-1",
        storage_namespace="ns", generation=1, now="2026-12-02T05:01:05Z", head_created="2026-12-02T05:01:00Z")
    assert cond is not None and cond["reason"] == recovery.RECOVERED and "5.0s" in cond["message"]
    assert cond["lastTransitionTime"] == "2026-12-02T05:01:05Z" and event is not None


@pytest.mark.parametrize(("host", "ref"), [
    ("redis", ("team", "redis")), ("redis.other", ("other", "redis")), ("redis.other.svc", ("other", "redis")),
    ("redis.other.svc.cluster.local", ("other", "redis")), ("10.0.0.3", None),
    ("my.elasticache.amazonaws.com", None),
])
def test_service_names_are_recognised_for_routing_outside_the_cluster(host: str, ref: tuple | None) -> None:
    from rayop.gcs_ha.credentials import service_name

    assert service_name(host, "team") == ref
