"""The RayJob controller's client of Ray's job REST API on the head's dashboard (port 8265).

KubeRay's RayJob talks to the same endpoints (``utils/dashboardclient/dashboard_httpclient.go``): ``GET
/api/jobs/<id>`` to follow a job (404 means "not submitted yet", which in HTTPMode triggers the submit), ``POST
/api/jobs/`` to submit, ``POST /api/jobs/<id>/stop`` when a RayJob is deleted before its job ends, ``DELETE
/api/jobs/<id>``, and ``GET /api/gcs_healthz`` before anything else. Only the HTTP calls live here:

* :class:`JobApi` is the protocol the controller uses, so its unit tests can use an in-memory fake;
* :class:`HttpJobApi` is the real client (aiohttp, one timeout per call, typed errors);
* :func:`parse_job_info` and :func:`dashboard_base_url` are pure.

A submit that Ray rejects because the submission id already exists counts as success: the controller submits with a
fixed id, so when an earlier submit went through but its answer was lost (a timeout, an operator restart), the retry
must not turn into a failure. Ray 2.60 answers that case with HTTP 500 and a traceback that ends in "Job with
submission_id X already exists. Please use a different submission_id."; KubeRay matches the last sentence.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

#: Ray's ``JobStatus`` values; the last three are terminal (``JobStatus.is_terminal``).
PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED = "PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"
TERMINAL_STATUSES = frozenset({STOPPED, SUCCEEDED, FAILED})
#: KubeRay's timeout for direct dashboard calls (the proxied ones get 10 s).
DEFAULT_TIMEOUT_S = 2.0
#: The header KubeRay sends its token in; Ray also accepts ``Authorization`` and prefers it when both are present.
AUTH_HEADER = "x-ray-authorization"
#: The sentence KubeRay's ``SubmitJobReq`` looks for in Ray's "already exists" error.
ALREADY_EXISTS_MARK = "Please use a different submission_id"
#: Longest piece of an error body kept in the exception text (Ray's bodies are whole tracebacks).
_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class JobInfo:
    """What the controller needs of Ray's ``JobDetails`` (``GET /api/jobs/<id>``), with Ray's spellings."""

    #: PENDING, RUNNING, STOPPED, SUCCEEDED or FAILED; kept as Ray sends it, so a status added later is not lost.
    status: str
    message: str = ""
    #: Milliseconds since the epoch, as Ray returns them; None while Ray has none (``end_time`` until the end).
    start_time: int | None = None
    end_time: int | None = None
    submission_id: str | None = None
    #: Ray's ``JobErrorType`` of a failed job, e.g. ``JOB_ENTRYPOINT_COMMAND_ERROR``.
    error_type: str | None = None
    entrypoint: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def _millis(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"job {name} is not a number: {value!r}")
    return int(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_job_info(data: Any) -> JobInfo:
    """Read one ``JobDetails`` object; ``ValueError`` if it is not one (no status, wrong types)."""
    if not isinstance(data, dict):
        raise ValueError(f"job details are not a JSON object: {type(data).__name__}")
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise ValueError(f"job details have no status: {status!r}")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"job metadata is not an object: {metadata!r}")
    return JobInfo(
        status=status,
        message=str(data.get("message") or ""),
        start_time=_millis(data.get("start_time"), "start_time"),
        end_time=_millis(data.get("end_time"), "end_time"),
        submission_id=_text(data.get("submission_id")),
        error_type=_text(data.get("error_type")),
        entrypoint=str(data.get("entrypoint") or ""),
        metadata={str(k): str(v) for k, v in metadata.items()},
    )


def is_already_submitted(status: int, body: str, submission_id: str | None) -> bool:
    """Whether a failed submit means "this submission id exists already".

    Only the text is trusted, not the code: Ray 2.60 sends 500, and a later Ray answering 400 or 409 with the same
    sentence must still count. Without a submission id in the request Ray picks a fresh one, so it cannot collide.
    """
    if status < 400 or not submission_id:
        return False
    return ALREADY_EXISTS_MARK in body or f"submission_id {submission_id} already exists" in body


class JobApiError(Exception):
    """The dashboard answered with an error (or with something that is not the expected JSON).

    ``status`` is the HTTP code and ``body`` the whole text of the answer; ``JobApiUnreachable`` (no answer at all)
    is a subclass with ``status`` None, so ``except JobApiError`` covers every failed call.
    """

    def __init__(self, status: int | None, body: str, message: str) -> None:
        super().__init__(f"{status}: {message}" if status is not None else message)
        self.status = status
        self.body = body
        self.message = message


class JobApiUnreachable(JobApiError):
    """No usable answer: connection refused or reset, name not resolved, answer cut short, or nothing within the
    call's timeout. The poller treats it like any failure; the controller may tell it apart (head not up yet)."""

    def __init__(self, message: str) -> None:
        super().__init__(None, "", message)


class JobApi(Protocol):
    """The job operations the RayJob controller performs on one cluster's dashboard."""

    async def get_job(self, submission_id: str) -> JobInfo | None:
        """The job's details; None if Ray does not know it (404)."""
        ...

    async def submit_job(self, request: dict[str, Any]) -> str:
        """Submit a ``JobSubmitRequest`` body; returns the submission id. An id that exists already is a success."""
        ...

    async def stop_job(self, submission_id: str) -> bool:
        """Ask Ray to stop the job; False if it had already ended or Ray does not know it."""
        ...

    async def delete_job(self, submission_id: str) -> bool:
        """Delete an ended job's record; False if Ray does not know it. A running job is an error (Ray's rule)."""
        ...

    async def healthy(self) -> bool:
        """Whether the dashboard reaches GCS (``/api/gcs_healthz`` answers ``success``)."""
        ...


SessionFactory = Callable[[], aiohttp.ClientSession]


class HttpJobApi:
    """:class:`JobApi` over HTTP to one dashboard, e.g. ``HttpJobApi("http://10.0.0.5:8265")``.

    Pass ``session`` to share a caller-owned session (not closed here), or ``session_factory`` to have one made on
    first use and closed by :meth:`close`; with neither, a plain ``aiohttp.ClientSession`` is made. Every call is
    limited to ``timeout`` seconds in total (connect, send, read), so a head that never answers costs one timeout,
    not a stuck task. ``auth_token`` is sent as ``x-ray-authorization: Bearer <token>`` (Ray's token auth).
    """

    def __init__(self, base_url: str, *, session_factory: SessionFactory | None = None,
                 session: aiohttp.ClientSession | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                 auth_token: str | None = None) -> None:
        if session is not None and session_factory is not None:
            raise ValueError("pass either session or session_factory, not both")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session
        self._owns_session = session is None
        self._factory: SessionFactory = session_factory or aiohttp.ClientSession
        self._headers = {AUTH_HEADER: f"Bearer {auth_token}"} if auth_token else {}

    async def __aenter__(self) -> HttpJobApi:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client made it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def get_job(self, submission_id: str) -> JobInfo | None:
        status, body = await self._call("GET", f"/api/jobs/{_quote(submission_id)}")
        if status == 404:
            return None
        return _parse(status, body, parse_job_info)

    async def submit_job(self, request: dict[str, Any]) -> str:
        requested = request.get("submission_id")
        status, body = await self._call("POST", "/api/jobs/", request)
        if status == 200:
            answer = _json(status, body)
            got = (answer.get("submission_id") or answer.get("job_id")) if isinstance(answer, dict) else None
            if not isinstance(got, str) or not got:
                raise JobApiError(status, body, "submit answer has no submission_id")
            return got
        if is_already_submitted(status, body, requested if isinstance(requested, str) else None):
            return str(requested)
        raise _error(status, body)

    async def stop_job(self, submission_id: str) -> bool:
        return await self._flag("POST", f"/api/jobs/{_quote(submission_id)}/stop", "stopped")

    async def delete_job(self, submission_id: str) -> bool:
        return await self._flag("DELETE", f"/api/jobs/{_quote(submission_id)}", "deleted")

    async def healthy(self) -> bool:
        """False rather than an error when the head does not answer: not healthy is the answer then."""
        try:
            status, body = await self._call("GET", "/api/gcs_healthz")
        except JobApiUnreachable:
            return False
        return status == 200 and "success" in body

    async def _flag(self, method: str, path: str, key: str) -> bool:
        status, body = await self._call(method, path)
        if status == 404:
            return False
        answer = _parse(status, body, lambda data: data.get(key) if isinstance(data, dict) else None)
        if not isinstance(answer, bool):
            raise JobApiError(status, body, f"answer has no boolean {key!r}")
        return answer

    async def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> tuple[int, str]:
        """One request; returns (status, body text) for any HTTP answer, raises JobApiUnreachable without one."""
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = self._factory()
        url = self.base_url + path
        try:
            async with self._session.request(method, url, json=payload, headers=self._headers,
                                             timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                return resp.status, await resp.text()
        except TimeoutError:
            raise JobApiUnreachable(f"{method} {url}: no answer within {self.timeout:g}s") from None
        except aiohttp.ClientError as exc:  # refused, reset, DNS, a body cut short: no usable answer
            raise JobApiUnreachable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


def _quote(submission_id: str) -> str:
    if not submission_id:
        raise ValueError("a submission id is needed")
    return quote(submission_id, safe="")


def _json(status: int, body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise JobApiError(status, body, f"answer is not JSON: {body[:_MESSAGE_CHARS]!r}") from None


def _parse(status: int, body: str, parse: Callable[[Any], Any]) -> Any:
    if status != 200:
        raise _error(status, body)
    data = _json(status, body)
    try:
        return parse(data)
    except ValueError as exc:
        raise JobApiError(status, body, str(exc)) from None


def _error(status: int, body: str) -> JobApiError:
    """Ray's error bodies are plain text, often a traceback: its last line says what went wrong. (A submit's
    traceback is the agent's wrapped in the head's ``RuntimeError("...: <traceback>.")``, whose last line is a lone
    period, so lines without a letter or digit are skipped.)"""
    lines = [line.strip() for line in body.splitlines() if any(c.isalnum() for c in line)]
    summary = lines[-1] if lines else "(empty body)"
    return JobApiError(status, body, summary[:_MESSAGE_CHARS])


#: How :func:`dashboard_base_url` reached the head.
VIA_SERVICE = "service-dns"
VIA_POD_IP = "head-pod-ip"


@dataclass(frozen=True)
class DashboardAddress:
    """Where the dashboard is, and by which route (so the caller can log it)."""

    url: str
    via: str

    def log_line(self) -> str:
        route = "the head Service DNS name" if self.via == VIA_SERVICE else "the head pod IP"
        return f"Ray dashboard at {self.url} (via {route})"


def dashboard_base_url(*, in_cluster: bool, service_dns: str | None, head_pod_ip: str | None,
                       port: int) -> DashboardAddress | None:
    """The dashboard's base URL as seen from where rayop runs; None while that route is not known yet.

    In a pod, the head Service's DNS name (what KubeRay uses): it survives a head pod's restart with a new IP.
    Anywhere else (rayop run from a host, e.g. the local mode) cluster DNS names do not resolve; KubeRay v1.5 run
    that way polled the Service name, failed every status check and reported a succeeded job Failed. There the head
    pod's IP is used, and never the Service name. No fallback from one to the other, so the address does not change
    under the caller once the missing piece appears.
    """
    if not 0 < port < 65536:
        raise ValueError(f"dashboard port out of range: {port}")
    if in_cluster:
        if not service_dns:
            return None
        return DashboardAddress(f"http://{service_dns}:{port}", VIA_SERVICE)
    if not head_pod_ip:
        return None
    host = f"[{head_pod_ip}]" if ":" in head_pod_ip else head_pod_ip
    return DashboardAddress(f"http://{host}:{port}", VIA_POD_IP)
