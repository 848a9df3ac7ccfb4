"""The sidecar's settings: flags over ``RAYOP_AUTOSCALER_*`` env over defaults; Ray's interval variable honoured."""

from __future__ import annotations

import pytest

from rayop.autoscaler.__main__ import build_parser
from rayop.autoscaler.settings import DEFAULT_METRICS_PORT, AutoscalerSettings
from rayop.autoscaler.state import DEFAULT_UNSCHEDULABLE_BOUND_S

pytestmark = pytest.mark.unit
CLUSTER = ["--cluster-name", "c", "--cluster-namespace", "ns"]


def test_defaults_match_rays_autoscaler(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AUTOSCALER_UPDATE_INTERVAL_S", "RAYOP_AUTOSCALER_PERIOD_SECONDS", "RAY_HEAD_POD_NAME"):
        monkeypatch.delenv(var, raising=False)
    args = build_parser(AutoscalerSettings()).parse_args(CLUSTER)
    assert (args.period, args.metrics_port, args.unschedulable_seconds) == (
        5.0, DEFAULT_METRICS_PORT, DEFAULT_UNSCHEDULABLE_BOUND_S)


def test_environment_from_autoscaler_options_env_sets_the_unschedulable_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_AUTOSCALER_UNSCHEDULABLE_SECONDS", "12")
    monkeypatch.setenv("RAYOP_AUTOSCALER_BLOCK_SECONDS", "90")
    args = build_parser(AutoscalerSettings()).parse_args(CLUSTER)
    assert (args.unschedulable_seconds, args.block_seconds) == (12.0, 90.0)


def test_rays_update_interval_variable_sets_the_period(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYOP_AUTOSCALER_PERIOD_SECONDS", raising=False)
    monkeypatch.setenv("AUTOSCALER_UPDATE_INTERVAL_S", "2.5")
    assert AutoscalerSettings().period_seconds == 2.5


def test_a_flag_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOP_AUTOSCALER_UNSCHEDULABLE_SECONDS", "12")
    args = build_parser(AutoscalerSettings()).parse_args([*CLUSTER, "--unschedulable-seconds", "3"])
    assert args.unschedulable_seconds == 3.0


def test_head_pod_name_comes_from_the_variable_the_operator_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_HEAD_POD_NAME", "c-head-x1")
    assert AutoscalerSettings().head_pod_name == "c-head-x1"


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="unschedulable_seconds"):
        AutoscalerSettings(unschedulable_seconds=-1)
