"""The Grafana dashboard in the chart reads only series the operator exports, so it never shows empty panels.

This checks the dashboard against the operator's metrics registry; tests/e2e/test_helm_incluster.py checks it again
against the live ``/metrics`` of the operator pod.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from rayop.operator.metrics import OperatorMetrics
from tests.support.promql import exported_names, metric_names

pytestmark = pytest.mark.unit

DASHBOARD = Path(__file__).resolve().parents[2] / "helm" / "rayop" / "dashboards" / "rayop.json"


def dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in doc["panels"] for target in panel.get("targets", [])]


def test_promql_names_are_the_selected_series_not_functions_or_labels() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, controller) (rate(controller_runtime_reconcile_time_seconds_bucket'
            '{controller="raycluster"}[5m]))) / on (pod) group_left max(leader_election_master_status)')
    assert metric_names(expr) == {"controller_runtime_reconcile_time_seconds_bucket", "leader_election_master_status"}


def test_every_dashboard_query_names_a_series_the_operator_registers() -> None:
    exported = exported_names(generate_latest(OperatorMetrics().registry).decode())
    queries = dashboard_queries()
    assert queries
    for expr in queries:
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, f"{expr}: {sorted(names - exported)} not exported"


def test_dashboard_shows_kuberays_series_for_clusters_and_jobs() -> None:
    names = set().union(*(metric_names(e) for e in dashboard_queries()))
    assert {"kuberay_cluster_info", "kuberay_cluster_condition_provisioned", "kuberay_job_info",
            "kuberay_job_deployment_status"} <= names
