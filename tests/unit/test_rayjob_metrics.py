"""KubeRay's RayJob series: one info and one deployment-status series per job, an execution duration per ended
attempt, all gone when the job is deleted."""

from __future__ import annotations

from rayop.operator.metrics import OperatorMetrics

JOB = ("pi", "ns", "u1")


def samples(m: OperatorMetrics, name: str) -> list[dict[str, str]]:
    return [s.labels for metric in m.registry.collect() for s in metric.samples if s.name == name]


def test_a_job_has_one_deployment_status_series_that_follows_its_state() -> None:
    m = OperatorMetrics()
    m.observe_job(*JOB, "Initializing")
    m.observe_job(*JOB, "Running")
    assert [s["deployment_status"] for s in samples(m, "kuberay_job_deployment_status")] == ["Running"]
    assert len(samples(m, "kuberay_job_info")) == 1


def test_an_ended_attempt_records_its_duration_with_the_retry_count() -> None:
    m = OperatorMetrics()
    m.job_finished(*JOB, "Retrying", 1, 42.0)
    (labels,) = samples(m, "kuberay_job_execution_duration_seconds")
    assert (labels["job_deployment_status"], labels["retry_count"]) == ("Retrying", "1")


def test_a_deleted_job_leaves_no_series() -> None:
    m = OperatorMetrics()
    m.observe_job(*JOB, "Complete")
    m.forget_job(*JOB)
    assert samples(m, "kuberay_job_info") == [] and samples(m, "kuberay_job_deployment_status") == []
