"""The benchmark harness (benchmarks/) still works: its smoke scenario, against rayop only, on tiny sizes.

This is not a performance test (no figure is asserted against a target); it keeps the harness from rotting: a fresh
control plane, the operator, the warm-up, a small burst and one scale cycle per cluster, the JSON record and the
report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.rayop_bench import report
from benchmarks.rayop_bench.harness import run_one
from benchmarks.rayop_bench.scenarios import Params

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(120)]


def test_smoke_scenario_against_rayop_produces_figures_and_a_table(tmp_path: Path) -> None:
    params = Params.smoke()
    record = run_one("smoke", "rayop", params, tmp_path)
    assert record["status"] == "ok"
    figures = record["figures"]
    assert figures["pods"] == params.clusters * (1 + params.workers)
    assert figures["ready_s"] > 0 and figures["pods_per_s"] > 0
    assert figures["changes"] == 2 * params.clusters * params.churn_cycles
    assert figures["latency_p99_s"] >= figures["latency_p50_s"] > 0
    assert figures["operator_cpu_s"] > 0 and figures["peak_rss_mib"] > 10
    assert max(n for _, n in record["series"]["ready_pods"]) >= figures["pods"]
    # the API server's own counters: at least one POST per pod, and the health figures are recorded
    assert figures["api_requests"]["POST pods"] >= figures["pods"]
    assert figures["api_writes"] >= figures["api_requests"]["POST pods"]
    assert figures["terminated_pod_watches"] >= 0 and figures["kwok_rejected_plays"] >= 0

    saved = json.loads((tmp_path / "rayop.json").read_text())
    assert saved["machine"]["cores"] and saved["versions"]["kubernetes"]
    md = report.write(tmp_path, "smoke", {"rayop": saved}, "pytest")
    assert "| all clusters ready (s) |" in md
    assert (tmp_path / "summary.json").exists() and (tmp_path / "table.md").exists()


def test_rayjob_load_scenario_against_rayop_runs_jobs_on_kwok_next_to_a_scaled_cluster(tmp_path: Path) -> None:
    """The kwok-only RayJob scenario at smoke size (no local node, no Ray): jobs Running, both scale windows."""
    params = Params(rayjob_jobs=3, rayjob_cycles=1, rayjob_settle=1.0, kuberay_in_cluster=False, timeout=45.0)
    record = run_one("rayjob-load", "rayop", params, tmp_path)
    assert record["status"] == "ok"
    figures = record["figures"]
    assert sum(figures["jobs_final_deployment_status"].values()) == params.rayjob_jobs
    assert len(figures["alone_samples"]["up_s"]) == len(figures["jobs_samples"]["up_s"]) == params.rayjob_cycles
    assert figures["jobs_latency_p50_s"] > 0 and figures["alone_latency_p50_s"] > 0
    assert figures["api_requests"]["POST rayjobs"] == params.rayjob_jobs
    md = report.write(tmp_path, "rayjob-load", {"rayop": record}, "pytest")
    assert "| scale 1↔4 next to the jobs: p50 (s) |" in md
