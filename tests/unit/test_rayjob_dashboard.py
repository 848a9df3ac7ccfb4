"""The RayJob dashboard client without Ray: parsing Ray's job JSON, choosing the dashboard address, mapping errors.

What real Ray shows deterministically (404 as None, a duplicate submission id as success, stop, delete, 401 without
the token) is tested against a real head in ``tests/e2e/test_rayjob_dashboard_real_ray.py``. The HTTP server here
(aiohttp on 127.0.0.1, started per test) exists only for what Ray cannot be made to do on purpose: answer too late,
fail with an arbitrary 500, send a body that is not JSON, or report GCS unhealthy (503).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rayop.operator.rayjob.dashboard import (
    AUTH_HEADER,
    VIA_POD_IP,
    VIA_SERVICE,
    HttpJobApi,
    JobApiError,
    JobApiUnreachable,
    JobInfo,
    dashboard_base_url,
    is_already_submitted,
    parse_job_info,
)

#: A ``GET /api/jobs/<id>`` answer of Ray 2.60 for a failed job (fields as in ray_interop.md §3.1).
FAILED_JOB: dict[str, Any] = {
    "type": "SUBMISSION", "job_id": "02000000", "submission_id": "rayjob-sample-x7k2p",
    "driver_info": {"id": "02000000", "node_ip_address": "10.0.0.5", "pid": "4242"},
    "status": "FAILED", "entrypoint": "python /home/ray/samples/sample_code.py",
    "message": "Job entrypoint command failed with exit code 3, last available logs: ...",
    "error_type": "JOB_ENTRYPOINT_COMMAND_ERROR", "start_time": 1733097600123, "end_time": 1733097612456,
    "metadata": {"ray.io/rayjob": "rayjob-sample"}, "runtime_env": {}, "driver_agent_http_address":
    "http://10.0.0.5:52365", "driver_node_id": "abc", "driver_exit_code": 3,
}


# --- parsing -------------------------------------------------------------------------------------------------------

def test_parse_job_info_reads_rays_job_details() -> None:
    assert parse_job_info(FAILED_JOB) == JobInfo(
        status="FAILED", message=str(FAILED_JOB["message"]), start_time=1733097600123, end_time=1733097612456,
        submission_id="rayjob-sample-x7k2p", error_type="JOB_ENTRYPOINT_COMMAND_ERROR",
        entrypoint="python /home/ray/samples/sample_code.py", metadata={"ray.io/rayjob": "rayjob-sample"})


def test_parse_job_info_turns_rays_nulls_into_empty_values() -> None:
    info = parse_job_info({"status": "PENDING", "message": None, "start_time": 1733097600123, "end_time": None,
                           "submission_id": "s", "error_type": None, "entrypoint": "x", "metadata": None})
    assert (info.message, info.end_time, info.error_type, dict(info.metadata)) == ("", None, None, {})


def test_parse_job_info_keeps_a_status_it_does_not_know() -> None:
    assert parse_job_info({"status": "ARCHIVED"}).status == "ARCHIVED"


@pytest.mark.parametrize("data", [[], {"message": "no status"}, {"status": ""}, {"status": "RUNNING",
                                  "start_time": "yesterday"}, {"status": "RUNNING", "metadata": ["a"]}])
def test_parse_job_info_rejects_what_is_not_job_details(data: Any) -> None:
    with pytest.raises(ValueError):
        parse_job_info(data)


@pytest.mark.parametrize(("status", "terminal"), [("PENDING", False), ("RUNNING", False), ("STOPPED", True),
                                                  ("SUCCEEDED", True), ("FAILED", True)])
def test_only_stopped_succeeded_and_failed_are_terminal(status: str, terminal: bool) -> None:
    assert JobInfo(status=status).is_terminal is terminal


def test_job_info_is_a_comparable_value_for_the_poller() -> None:
    assert parse_job_info(FAILED_JOB) == parse_job_info(dict(FAILED_JOB))
    assert parse_job_info(FAILED_JOB) != parse_job_info({**FAILED_JOB, "status": "RUNNING"})
    assert hash(parse_job_info(FAILED_JOB)) == hash(parse_job_info(dict(FAILED_JOB)))


# --- "already exists" ----------------------------------------------------------------------------------------------

RAY_DUPLICATE = ("Traceback (most recent call last):\n  ...\nRuntimeError: Request failed with status code 500: "
                 "Traceback ...\nValueError: Job with submission_id rayjob-sample-x7k2p already exists. "
                 "Please use a different submission_id.\n.")


def test_rays_duplicate_submission_error_counts_as_already_submitted() -> None:
    assert is_already_submitted(500, RAY_DUPLICATE, "rayjob-sample-x7k2p")


def test_the_duplicate_sentence_counts_whatever_the_error_code() -> None:
    assert is_already_submitted(409, "Job with submission_id s already exists.", "s")


def test_another_500_is_not_already_submitted() -> None:
    assert not is_already_submitted(500, "No available agent to submit job, please try again later.", "s")


def test_a_submit_without_submission_id_is_never_already_submitted() -> None:
    assert not is_already_submitted(500, RAY_DUPLICATE, None)


# --- addressing ----------------------------------------------------------------------------------------------------

def test_in_cluster_the_dashboard_is_reached_by_the_head_service_dns_name() -> None:
    address = dashboard_base_url(in_cluster=True, service_dns="rj-head-svc.ns.svc.cluster.local",
                                 head_pod_ip="10.1.2.3", port=8265)
    assert address is not None
    assert (address.url, address.via) == ("http://rj-head-svc.ns.svc.cluster.local:8265", VIA_SERVICE)


def test_outside_the_cluster_the_dashboard_is_reached_by_the_head_pod_ip_not_the_service_name() -> None:
    address = dashboard_base_url(in_cluster=False, service_dns="rj-head-svc.ns.svc.cluster.local",
                                 head_pod_ip="10.1.2.3", port=8265)
    assert address is not None
    assert (address.url, address.via) == ("http://10.1.2.3:8265", VIA_POD_IP)


def test_outside_the_cluster_without_a_head_pod_ip_there_is_no_address_yet() -> None:
    assert dashboard_base_url(in_cluster=False, service_dns="rj-head-svc.ns.svc.cluster.local",
                              head_pod_ip=None, port=8265) is None


def test_in_cluster_without_a_service_name_there_is_no_address_yet() -> None:
    assert dashboard_base_url(in_cluster=True, service_dns=None, head_pod_ip="10.1.2.3", port=8265) is None


def test_an_ipv6_head_pod_ip_is_bracketed() -> None:
    address = dashboard_base_url(in_cluster=False, service_dns=None, head_pod_ip="fd00::5", port=8265)
    assert address is not None and address.url == "http://[fd00::5]:8265"


def test_a_port_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError):
        dashboard_base_url(in_cluster=False, service_dns=None, head_pod_ip="10.1.2.3", port=0)


def test_the_log_line_says_which_route_was_taken() -> None:
    service = dashboard_base_url(in_cluster=True, service_dns="h.ns.svc", head_pod_ip=None, port=8265)
    pod = dashboard_base_url(in_cluster=False, service_dns=None, head_pod_ip="10.1.2.3", port=8265)
    assert service is not None and pod is not None
    assert "Service DNS name" in service.log_line() and "pod IP" in pod.log_line()


# --- HTTP-level errors Ray cannot be made to show on purpose -------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture()
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a one-handler HTTP server on 127.0.0.1 (any path) and return its base URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound and released: connecting is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_dashboard_that_answers_too_late_is_unreachable(serve: Any) -> None:
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"status": "RUNNING"})

    async with HttpJobApi(await serve(slow), timeout=0.2) as api:
        try:
            with pytest.raises(JobApiUnreachable, match=r"no answer within 0\.2s"):
                await api.get_job("s")
        finally:
            release.set()


async def test_a_refused_connection_is_unreachable() -> None:
    async with HttpJobApi(f"http://127.0.0.1:{_closed_port()}", timeout=2) as api:
        with pytest.raises(JobApiUnreachable):
            await api.get_job("s")


async def test_a_500_is_an_error_with_status_body_and_the_last_line_as_message(serve: Any) -> None:
    body = "Traceback (most recent call last):\n  File x\nRuntimeError: the GCS went away\n"

    async def boom(_: web.Request) -> web.Response:
        return web.Response(status=500, text=body)

    async with HttpJobApi(await serve(boom)) as api:
        with pytest.raises(JobApiError) as err:
            await api.get_job("s")
    assert (err.value.status, err.value.body, err.value.message) == (500, body, "RuntimeError: the GCS went away")
    assert not isinstance(err.value, JobApiUnreachable)


async def test_a_submit_failing_otherwise_is_an_error(serve: Any) -> None:
    async def busy(_: web.Request) -> web.Response:
        return web.Response(status=500, text="No available agent to submit job, please try again later.")

    async with HttpJobApi(await serve(busy)) as api:
        with pytest.raises(JobApiError) as err:
            await api.submit_job({"entrypoint": "true", "submission_id": "s"})
    assert err.value.status == 500


async def test_the_message_of_a_wrapped_traceback_is_its_last_line_with_words(serve: Any) -> None:
    async def wrapped(_: web.Request) -> web.Response:
        return web.Response(status=500, text="Traceback:\nRuntimeError: Request failed with status code 500: "
                                             "Traceback:\nValueError: bad runtime_env\n.")

    async with HttpJobApi(await serve(wrapped)) as api:
        with pytest.raises(JobApiError) as err:
            await api.submit_job({"entrypoint": "true", "submission_id": "s"})
    assert err.value.message == "ValueError: bad runtime_env"


async def test_an_answer_that_is_not_json_is_an_error(serve: Any) -> None:
    async def html(_: web.Request) -> web.Response:
        return web.Response(status=200, text="<html>a proxy page</html>")

    async with HttpJobApi(await serve(html)) as api:
        with pytest.raises(JobApiError, match="not JSON"):
            await api.get_job("s")


async def test_an_unhealthy_gcs_is_not_healthy(serve: Any) -> None:
    async def unhealthy(_: web.Request) -> web.Response:
        return web.Response(status=503, text="Local Raylet failed")

    async with HttpJobApi(await serve(unhealthy)) as api:
        assert await api.healthy() is False


async def test_an_unreachable_dashboard_is_not_healthy() -> None:
    async with HttpJobApi(f"http://127.0.0.1:{_closed_port()}", timeout=2) as api:
        assert await api.healthy() is False


async def test_the_token_goes_in_kuberays_header_and_ids_are_quoted_in_the_path(serve: Any) -> None:
    seen: list[tuple[str, str | None]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.raw_path, request.headers.get(AUTH_HEADER)))
        return web.json_response({"status": "RUNNING"})

    async with HttpJobApi(await serve(record), auth_token="t0k") as api:
        await api.get_job("a/b c")
    assert seen == [("/api/jobs/a%2Fb%20c", "Bearer t0k")]


# --- sessions ------------------------------------------------------------------------------------------------------

async def test_a_session_passed_in_stays_open_after_close() -> None:
    session = aiohttp.ClientSession()
    try:
        await HttpJobApi("http://127.0.0.1:1", session=session).close()
        assert not session.closed
    finally:
        await session.close()


async def test_a_session_from_the_factory_is_closed_by_close() -> None:
    made: list[aiohttp.ClientSession] = []

    def factory() -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession())
        return made[-1]

    api = HttpJobApi(f"http://127.0.0.1:{_closed_port()}", session_factory=factory, timeout=2)
    assert await api.healthy() is False
    await api.close()
    assert len(made) == 1 and made[0].closed


def test_session_and_session_factory_together_are_rejected() -> None:
    with pytest.raises(ValueError):
        HttpJobApi("http://h:8265", session=object(), session_factory=aiohttp.ClientSession)  # type: ignore[arg-type]

