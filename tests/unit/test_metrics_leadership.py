"""Per-object series belong to the leader: a process that stops leading drops them; the leader gauge says who leads."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from rayop.operator.metrics import OperatorMetrics

pytestmark = pytest.mark.unit


def _samples(metrics: OperatorMetrics) -> list[str]:
    return [line for line in generate_latest(metrics.registry).decode().splitlines() if not line.startswith("#")]


def test_a_process_that_stops_leading_reports_no_object_it_no_longer_reconciles() -> None:
    metrics = OperatorMetrics()
    metrics.observe_cluster("c", "ns", "u1", "None", provisioned=True)
    metrics.provisioned("c", "ns", "u1", 12.0)
    metrics.observe_job("j", "ns", "u2", "Running")
    metrics.job_finished("j", "ns", "u2", "Complete", 0, 30.0)
    metrics.forget_objects()
    assert not [s for s in _samples(metrics) if s.startswith("kuberay_")]


def test_series_come_back_when_the_next_term_observes_the_objects_again() -> None:
    metrics = OperatorMetrics()
    metrics.observe_cluster("c", "ns", "u1", "None", provisioned=False)
    metrics.forget_objects()
    metrics.observe_cluster("c", "ns", "u1", "None", provisioned=True)
    samples = _samples(metrics)
    assert any(s.startswith('kuberay_cluster_condition_provisioned{condition="true"') for s in samples)
    assert not any('condition="false"' in s for s in samples)


def test_the_leader_gauge_has_client_gos_name_and_the_lease_label() -> None:
    metrics = OperatorMetrics()
    metrics.leader.labels("rayop-leader").set(1)
    assert 'leader_election_master_status{name="rayop-leader"} 1.0' in _samples(metrics)
