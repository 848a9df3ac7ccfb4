# ruff: noqa: E501  (the sample is real /metrics text, whose lines are long)
"""The benchmark's reading of kube-apiserver's request counters (a pure parse of its /metrics text)."""

from __future__ import annotations

from benchmarks.rayop_bench.harness import parse_api_counters

METRICS = """\
# HELP apiserver_request_total [STABLE] Counter of apiserver requests
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 250
apiserver_request_total{code="422",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PATCH",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PATCH",version="v1"} 250
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 900
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="WATCH",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="LIST",version="v1"} 2
apiserver_terminated_watchers_total{group="",resource="pods"} 5
apiserver_terminated_watchers_total{group="",resource="nodes"} 1
"""


def test_requests_are_summed_over_response_codes_by_verb_and_resource() -> None:
    counts = parse_api_counters(METRICS)
    assert counts["POST pods"] == 250
    assert counts["PATCH pods/status"] == 253
    assert counts["LIST pods"] == 2


def test_lease_renewals_and_watches_are_left_out() -> None:
    counts = parse_api_counters(METRICS)
    assert not any("leases" in key or key.startswith("WATCH") for key in counts)


def test_only_pod_watches_closed_as_too_slow_are_counted() -> None:
    assert parse_api_counters(METRICS)["terminated pod watches"] == 5
