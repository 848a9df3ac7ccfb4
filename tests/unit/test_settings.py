"""One typed Settings object, from RAYOP_* environment variables and explicit overrides."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rayop.operator.settings import Settings, load_settings


def test_defaults_watch_every_namespace_with_json_logs() -> None:
    s = Settings()
    assert s.namespaces == []
    assert s.log_format == "json"


def test_environment_variables_with_rayop_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_NAMESPACES", '["a","b"]')
    monkeypatch.setenv("RAYOP_MAX_CONCURRENT_RECONCILES", "7")
    s = Settings()
    assert s.namespaces == ["a", "b"]
    assert s.queue.max_concurrent_reconciles == 7


def test_explicit_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_LOG_FORMAT", "plain")
    assert load_settings(log_format="json").log_format == "json"


def test_unset_overrides_keep_the_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_HEALTH_PORT", "9999")
    assert load_settings(health_port=None).health_port == 9999


def test_invalid_concurrency_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(max_concurrent_reconciles=0)


def test_nested_sections_are_read_with_a_double_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_QUEUE__RESYNC_SECONDS", "60")
    monkeypatch.setenv("RAYOP_LEADER_ELECTION__ENABLED", "false")
    s = Settings()
    assert s.queue.resync_seconds == 60
    assert s.leader_election.enabled is False


def test_flat_names_of_earlier_releases_still_set_their_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_API_CONNECTIONS", "32")
    s = Settings(resync_seconds=30, autoscaler_image="example.com/rayop:1")
    assert s.api.connections == 32
    assert s.queue.resync_seconds == 30
    assert s.raycluster.autoscaler_image == "example.com/rayop:1"


def test_builder_switches_reach_the_build_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_RAYCLUSTER__CLUSTER_DOMAIN", "corp.example")
    monkeypatch.setenv("RAYOP_RAYCLUSTER__ENABLE_INIT_CONTAINER_INJECTION", "false")
    options = Settings().raycluster.build_options("rayop-test")
    assert options.cluster_domain == "corp.example"
    assert options.enable_init_container_injection is False
    assert options.operator_version == "rayop-test"
