"""The training-operator's Prometheus counters (``pkg/common/metrics.go``), on the operator's registry: jobs
created, deleted, successful, failed and restarted, by ``job_namespace`` and ``framework``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

_LABELS = ("job_namespace", "framework")
_NAMES = {"created": "training_operator_jobs_created_total", "deleted": "training_operator_jobs_deleted_total",
          "successful": "training_operator_jobs_successful_total", "failed": "training_operator_jobs_failed_total",
          "restarted": "training_operator_jobs_restarted_total"}
_HELP = {"created": "Counts number of jobs created", "deleted": "Counts number of jobs deleted",
         "successful": "Counts number of jobs successful", "failed": "Counts number of jobs failed",
         "restarted": "Counts number of jobs restarted"}
_BY_REGISTRY: dict[int, dict[str, Counter]] = {}


def counters(registry: CollectorRegistry) -> dict[str, Counter]:
    """The five counters of ``registry``, registered once (the four controllers share them)."""
    out = _BY_REGISTRY.get(id(registry))
    if out is None:
        out = _BY_REGISTRY[id(registry)] = {k: Counter(_NAMES[k].removesuffix("_total"), _HELP[k], _LABELS,
                                                       registry=registry) for k in _NAMES}
    return out


def inc(registry: CollectorRegistry, what: str, namespace: str, framework: str) -> None:
    counters(registry)[what].labels(namespace, framework).inc()
