"""The load generator's pure parts: what counts as an answer, and the figures of an upgrade under load."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.rayop_bench.serveload import LoadGenerator, Sample, new_only_since, parse_answer, summarize


def ok(start: float, version: str, latency: float = 0.01, pod: str = "p") -> Sample:
    return Sample(start, start + latency, True, version, pod)


def fail(start: float, error: str = "ConnectionRefusedError: [Errno 111]") -> Sample:
    return Sample(start, start + 0.001, False, error=error)


def test_a_200_with_a_version_is_an_answer() -> None:
    assert parse_answer(200, json.dumps({"version": "v2", "pod": "svc-abcde-head-x"}).encode()) == (
        True, "v2", "svc-abcde-head-x", "")


def test_a_503_is_a_failure_with_its_status() -> None:
    got = parse_answer(503, b"No replicas are available yet.")
    assert got[0] is False and got[3].startswith("HTTP 503")


def test_a_200_without_a_version_is_a_failure() -> None:
    assert parse_answer(200, b'{"hello": 1}')[0] is False
    assert parse_answer(200, b"<html>")[0] is False


def test_last_old_answer_and_first_new_answer_are_relative_to_the_change() -> None:
    samples = [ok(9.0, "v1"), ok(10.5, "v1"), ok(11.0, "v2"), ok(11.2, "v1"), ok(12.0, "v2"), ok(13.0, "v2")]
    got = summarize(samples, change_at=10.0, old_version="v1", new_version="v2")
    assert got["last_old_s"] == 1.21
    assert got["first_new_s"] == 1.01
    assert got["answers"] == {"v1": 3, "v2": 3}


def test_new_only_starts_after_the_last_old_answer() -> None:
    samples = [ok(9.0, "v1"), ok(11.0, "v2"), ok(11.2, "v1", latency=0.3), ok(12.0, "v2"), ok(13.0, "v2")]
    assert new_only_since(samples, "v2", after=10.0) == 11.5


def test_a_failure_after_the_change_delays_new_only() -> None:
    samples = [ok(9.0, "v1"), ok(11.0, "v2"), fail(12.0), ok(13.0, "v2")]
    assert new_only_since(samples, "v2", after=10.0) == 12.001


def test_new_only_is_none_when_the_load_ended_on_the_old_version() -> None:
    assert new_only_since([ok(11.0, "v2"), ok(12.0, "v1")], "v2", after=10.0) is None


def test_new_only_is_the_change_itself_when_nothing_else_answered_after_it() -> None:
    assert new_only_since([ok(9.0, "v1"), ok(11.0, "v2")], "v2", after=10.0) == 10.0


def test_failures_are_counted_and_grouped_by_error_kind() -> None:
    samples = [ok(1.0, "v1"), fail(2.0), fail(3.0), fail(12.0, "TimeoutError: timed out"), ok(13.0, "v2")]
    got = summarize(samples, change_at=10.0, old_version="v1", new_version="v2")
    assert (got["requests"], got["failed"], got["failed_after_change"]) == (5, 3, 1)
    assert got["errors"] == {"ConnectionRefusedError": 2, "TimeoutError": 1}


def test_latency_percentiles_leave_out_failures() -> None:
    samples = [ok(float(i), "v1", latency=0.010 + i / 1000) for i in range(100)] + [fail(200.0)]
    got = summarize(samples, change_at=50.0, old_version="v1", new_version="v2")
    assert got["p50_ms"] == 59.5
    assert got["p99_ms"] == 108.0
    assert got["max_ms"] == 109.0


def test_no_samples_give_empty_figures() -> None:
    got = summarize([], change_at=0.0, old_version="v1", new_version="v2")
    assert got["requests"] == 0 and got["p50_ms"] is None and got["new_only_s"] is None


def test_the_generator_records_every_request_to_a_loopback_server_and_which_version_answered() -> None:
    version = {"now": "v1"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"version": version["now"], "pod": "loopback"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gen = LoadGenerator(f"http://127.0.0.1:{server.server_port}/", concurrency=2, rate=100, max_seconds=5).start()
        time.sleep(0.4)
        change = gen.mark("change")
        version["now"] = "v2"
        time.sleep(0.4)
        samples = gen.stop()
    finally:
        server.shutdown()
    got = summarize(samples, change, "v1", "v2")
    assert got["failed"] == 0
    assert got["requests"] == len(samples) >= 40
    assert set(got["answers"]) == {"v1", "v2"}
    assert got["new_only_s"] is not None and got["new_only_s"] < 0.2


def test_the_route_device_is_read_from_ip_route_get() -> None:
    from benchmarks.rayop_bench.serveload import route_device

    assert route_device("10.96.0.57 dev rayop0 src 10.233.0.1 uid 0 \n    cache \n") == "rayop0"
    assert route_device("10.96.0.57 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0") == "eth0"
    assert route_device("unreachable") == ""


def test_loopback_stays_on_the_machine_and_a_name_is_refused() -> None:
    from benchmarks.rayop_bench.serveload import stays_on_this_machine

    assert stays_on_this_machine("127.0.0.1")
    assert not stays_on_this_machine("example.invalid")
