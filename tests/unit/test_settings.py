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
    assert s.max_concurrent_reconciles == 7


def test_explicit_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_LOG_FORMAT", "plain")
    assert load_settings(log_format="json").log_format == "json"


def test_unset_overrides_keep_the_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_HEALTH_PORT", "9999")
    assert load_settings(health_port=None).health_port == 9999


def test_invalid_concurrency_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(max_concurrent_reconciles=0)
