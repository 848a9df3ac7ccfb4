"""rayop's job API client against a real Ray head that this module starts on loopback, with token auth on.

The head runs as ``ray start --head --block`` in its own process group, with a free port for every port that has a
fixed default (GCS, dashboard, client server, agent, metrics, dashboard and autoscaler metrics), so it cannot collide
with another Ray on the machine. ``HOME`` and ``--temp-dir`` point into a temporary directory (token auth may write
``~/.ray/auth_token``, and a token there turns token auth on for every later Ray on the machine), and the caller's
``RAY_*`` variables are removed (``RAY_ADDRESS`` would redirect the job CLI). It is stopped by killing that process
group and what is left of the session it leads (see :func:`_stop`), never by ``ray stop``, which stops every Ray on
the machine. A job's entrypoint runs in a session of its own, but Ray's watcher beside it kills it within a second
of its supervisor's death.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rayop.operator.rayjob.dashboard import (
    ALREADY_EXISTS_MARK,
    FAILED,
    RUNNING,
    STOPPED,
    SUCCEEDED,
    HttpJobApi,
    JobApiError,
    JobInfo,
    dashboard_base_url,
)

RAY = Path(sys.executable).with_name("ray")
#: Ray's calls can take seconds on a busy 2-core machine; the client's default (KubeRay's 2 s) is for production.
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Head:
    url: str
    token: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session_members(sid: int) -> list[int]:
    """Processes whose session is ``sid`` (``/proc/<pid>/stat`` field 6)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _stop(proc: subprocess.Popen[Any]) -> None:
    """Stop the head's process group, then what is left of the session it leads.

    SIGTERM ends Ray's processes in the group at once, but ``ray start --block`` itself then "drains" for 30 s with
    nothing left to drain: a short grace, then SIGKILL. Ray 2.60 puts each worker in a process group of its own (its
    raylet kills them by group), so a worker can outlive the group by the ~30 s it takes to notice its raylet is
    gone, and write into the temp dir meanwhile; it is still in the session this test started, and is killed there.
    """
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    deadline = time.monotonic() + 10
    while (left := _session_members(proc.pid)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def _gcs_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/gcs_healthz", timeout=5) as resp:
            return resp.status == 200 and b"success" in resp.read()
    except OSError:
        return False


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    if not RAY.exists():
        pytest.skip("ray is not installed in this venv")
    tmp = Path(tempfile.mkdtemp(prefix="rayop-dash-", dir="/tmp"))
    token = secrets.token_hex(16)
    dashboard_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(tmp), RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token,
               DASHBOARD_METRIC_PORT=str(_free_port()), AUTOSCALER_METRIC_PORT=str(_free_port()))
    log = open(tmp / "head.log", "wb")  # noqa: SIM115 - closed after the process
    proc = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", f"--port={_free_port()}", "--include-dashboard=true",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", "--num-cpus=1",
         "--object-store-memory=80000000", f"--temp-dir={tmp / 'ray'}", "--disable-usage-stats", "--no-monitor",
         f"--ray-client-server-port={_free_port()}", f"--dashboard-agent-listen-port={_free_port()}",
         f"--metrics-export-port={_free_port()}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        address = dashboard_base_url(in_cluster=False, service_dns=None, head_pod_ip="127.0.0.1",
                                     port=dashboard_port)
        assert address is not None
        deadline = time.monotonic() + 180
        while not _gcs_healthy(address.url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp / "head.log").read_text(errors="replace")[-3000:])
            time.sleep(1)
        yield Head(address.url, token)
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _api(head: Head) -> HttpJobApi:
    return HttpJobApi(head.url, timeout=TIMEOUT_S, auth_token=head.token)


async def _until(api: HttpJobApi, submission_id: str, statuses: set[str], timeout: float = 180.0) -> JobInfo:
    deadline = time.monotonic() + timeout
    last: JobInfo | None = None
    while time.monotonic() < deadline:
        last = await api.get_job(submission_id)
        if last is not None and last.status in statuses:
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"{submission_id} did not reach {statuses}; last={last!r}")


def _sid(name: str) -> str:
    return f"rayop-{name}-{secrets.token_hex(3)}"


async def test_the_dashboard_reports_healthy(head: Head) -> None:
    async with _api(head) as api:
        assert await api.healthy()


async def test_a_submission_that_already_exists_counts_as_success_and_stays_one_job(head: Head) -> None:
    sid = _sid("twice")
    request = {"entrypoint": "echo twice", "submission_id": sid}
    auth = {"x-ray-authorization": f"Bearer {head.token}"}
    async with _api(head) as api, aiohttp.ClientSession(headers=auth) as raw:
        assert await api.submit_job(request) == sid
        # What the client turns into success: Ray itself refuses the second submit.
        async with raw.post(f"{head.url}/api/jobs/", json=request) as resp:
            assert resp.status >= 400 and ALREADY_EXISTS_MARK in await resp.text()
        assert await api.submit_job(request) == sid
        async with raw.get(f"{head.url}/api/jobs/") as resp:
            jobs = await resp.json()
    assert [j["submission_id"] for j in jobs].count(sid) == 1


async def test_a_submitted_job_is_followed_to_succeeded(head: Head) -> None:
    sid = _sid("ok")
    async with _api(head) as api:
        await api.submit_job({"entrypoint": "echo done", "submission_id": sid, "metadata": {"owner": "rayop"}})
        info = await _until(api, sid, {SUCCEEDED, FAILED, STOPPED})
    assert info.status == SUCCEEDED, info
    assert (info.submission_id, info.entrypoint, dict(info.metadata)) == (sid, "echo done", {"owner": "rayop"})
    assert info.start_time is not None and info.end_time is not None and info.end_time >= info.start_time


async def test_a_failing_entrypoint_ends_failed_with_a_message(head: Head) -> None:
    sid = _sid("fail")
    async with _api(head) as api:
        await api.submit_job({"entrypoint": "echo broken >&2; exit 3", "submission_id": sid})
        info = await _until(api, sid, {SUCCEEDED, FAILED, STOPPED})
    assert info.status == FAILED, info
    assert info.error_type == "JOB_ENTRYPOINT_COMMAND_ERROR"
    assert info.message, info


async def test_stop_job_stops_a_running_job_and_then_has_nothing_to_stop(head: Head) -> None:
    sid = _sid("sleep")
    async with _api(head) as api:
        await api.submit_job({"entrypoint": "sleep 600", "submission_id": sid})
        await _until(api, sid, {RUNNING})
        assert await api.stop_job(sid) is True
        info = await _until(api, sid, {SUCCEEDED, FAILED, STOPPED}, timeout=60)
        assert info.status == STOPPED, info
        assert await api.stop_job(sid) is False


async def test_delete_job_removes_an_ended_job(head: Head) -> None:
    sid = _sid("delete")
    async with _api(head) as api:
        await api.submit_job({"entrypoint": "true", "submission_id": sid})
        await _until(api, sid, {SUCCEEDED, FAILED, STOPPED})
        assert await api.delete_job(sid) is True
        assert await api.get_job(sid) is None
        assert await api.delete_job(sid) is False


async def test_get_job_of_an_unknown_id_is_none(head: Head) -> None:
    async with _api(head) as api:
        assert await api.get_job("rayop-never-submitted") is None


async def test_stop_job_of_an_unknown_id_is_false(head: Head) -> None:
    async with _api(head) as api:
        assert await api.stop_job("rayop-never-submitted") is False


async def test_a_client_without_the_token_gets_a_401_but_health_stays_public(head: Head) -> None:
    async with HttpJobApi(head.url, timeout=TIMEOUT_S) as api:
        with pytest.raises(JobApiError) as err:
            await api.get_job("rayop-never-submitted")
        assert err.value.status == 401
        assert await api.healthy()


async def test_delete_job_of_a_running_job_is_an_error(head: Head) -> None:
    sid = _sid("busy")
    async with _api(head) as api:
        await api.submit_job({"entrypoint": "sleep 600", "submission_id": sid})
        await _until(api, sid, {RUNNING})
        try:
            with pytest.raises(JobApiError) as err:
                await api.delete_job(sid)
            assert err.value.status is not None and err.value.status >= 400
            assert "non-terminal" in err.value.body
        finally:
            await api.stop_job(sid)
