"""The bench report has a headline table for every scenario the harness runs (a finished run must not end in a
KeyError when its figures are written)."""

from __future__ import annotations

from benchmarks.rayop_bench.harness import ALL_RUNNERS
from benchmarks.rayop_bench.report import HEADLINES
from benchmarks.rayop_bench.scenarios import SCENARIOS


def test_every_scenario_the_harness_runs_has_headline_figures() -> None:
    assert set(SCENARIOS) <= set(ALL_RUNNERS)
    assert sorted(set(SCENARIOS) - set(HEADLINES)) == []
