"""The RayService controller's client of Ray Serve: the REST API on the head's dashboard and the proxies' health.

The same endpoints KubeRay uses (``rayservice_controller.go``, ``shared/reference/ray_interop.md`` 4): ``GET
/api/serve/applications/?api_type=declarative`` for the applications and their deployments, ``PUT
/api/serve/applications/`` with the serve config as JSON (declarative: apps missing from it are deleted), and ``GET
/-/healthz`` on a proxy (port 8000) for whether it routes. The controller calls them only from the poller and
one-shot background calls, never inside a pass.

* :class:`ServeApi` is the protocol the controller uses (unit tests use an in-memory fake);
* :class:`HttpServeApi` is the real client (aiohttp, one timeout per call);
* :func:`parse_applications` and :func:`config_to_json` are pure.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import yaml

from rayop.serve_rollout.model import AppView

#: KubeRay's timeouts: 2 s for dashboard calls and for the proxy health check.
DEFAULT_TIMEOUT_S = 2.0
_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class ServeState:
    """One poll of a cluster: its applications (None: the API did not answer) and whether its head proxy routes."""

    apps: tuple[tuple[str, AppView], ...] | None
    proxy_healthy: bool
    error: str | None = None
    #: HTTP status and the first line of the proxy's answer, for messages ("No replicas are available yet.").
    proxy_detail: str = field(default="", compare=False)

    def app_map(self) -> dict[str, AppView] | None:
        return dict(self.apps) if self.apps is not None else None


class ServeApiError(Exception):
    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status}: {message}" if status is not None else message)
        self.status = status


def _tail(message: str) -> str:
    """The end of a long message: Ray's are tracebacks, whose last line names the error."""
    return message if len(message) <= _MESSAGE_CHARS else "..." + message[-_MESSAGE_CHARS:]


def parse_applications(data: Any) -> tuple[tuple[str, AppView], ...]:
    """``ServeInstanceDetails`` → (app name, AppView) sorted by name; an unnamed app is ``default`` (KubeRay)."""
    if not isinstance(data, dict):
        raise ValueError(f"serve details are not a JSON object: {type(data).__name__}")
    apps = data.get("applications") or {}
    if not isinstance(apps, dict):
        raise ValueError("serve details: applications is not an object")
    out = []
    for name, app in apps.items():
        if not isinstance(app, dict):
            continue
        deployments = {str(d): (str((v or {}).get("status", "")), _tail(str((v or {}).get("message") or "")))
                       for d, v in (app.get("deployments") or {}).items()}
        out.append((str(name) or "default", AppView(str(app.get("status", "")), _tail(str(app.get("message") or "")),
                                                     deployments)))
    return tuple(sorted(out, key=lambda p: p[0]))


def config_to_json(serve_config_v2: str) -> dict[str, Any]:
    """The YAML ``serveConfigV2`` as the JSON body of the PUT; ValueError if it is not a YAML mapping."""
    try:
        doc = yaml.safe_load(serve_config_v2)
    except yaml.YAMLError as exc:
        raise ValueError(f"serveConfigV2 is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError("serveConfigV2 must be a YAML mapping")
    return doc


class ServeApi(Protocol):
    async def applications(self) -> tuple[tuple[str, AppView], ...]: ...
    async def put_config(self, config: dict[str, Any]) -> None: ...
    async def proxy_health(self) -> tuple[bool, str]: ...


class HttpServeApi:
    """Serve's REST API at ``dashboard_url`` and the head proxy at ``proxy_url``, over a caller-owned session."""

    def __init__(self, dashboard_url: str, proxy_url: str, session: aiohttp.ClientSession,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.dashboard_url = dashboard_url.rstrip("/")
        self.proxy_url = proxy_url.rstrip("/")
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(self, method: str, url: str, payload: dict[str, Any] | None = None) -> tuple[int, str]:
        try:
            async with self._session.request(method, url, json=payload, timeout=self._timeout) as resp:
                return resp.status, await resp.text()
        except TimeoutError:
            raise ServeApiError(None, f"{method} {url}: no answer within {self._timeout.total:g}s") from None
        except aiohttp.ClientError as exc:
            raise ServeApiError(None, f"{method} {url}: {exc}") from exc

    async def applications(self) -> tuple[tuple[str, AppView], ...]:
        status, body = await self._call("GET", f"{self.dashboard_url}/api/serve/applications/?api_type=declarative")
        if status != 200:
            raise ServeApiError(status, body[:_MESSAGE_CHARS])
        try:
            return parse_applications(json.loads(body))
        except (ValueError, json.JSONDecodeError) as exc:
            raise ServeApiError(status, f"unexpected answer: {exc}") from exc

    async def put_config(self, config: dict[str, Any]) -> None:
        status, body = await self._call("PUT", f"{self.dashboard_url}/api/serve/applications/", config)
        if status != 200:
            raise ServeApiError(status, body[:_MESSAGE_CHARS])

    async def proxy_health(self) -> tuple[bool, str]:
        try:
            status, body = await self._call("GET", f"{self.proxy_url}/-/healthz")
        except ServeApiError as exc:
            return False, str(exc)
        return status == 200, f"{status} {body.strip().splitlines()[0] if body.strip() else ''}".strip()


#: Proxy health checks per poll before a proxy counts as down: one slow answer on a loaded node must not take the
#: head out of the serve Service (its ``ray.io/serve`` label follows this).
PROXY_ATTEMPTS = 3


async def poll_cluster(api: ServeApi, *, attempts: int = PROXY_ATTEMPTS, pause: float = 0.5) -> ServeState:
    """One poll: the applications and the head proxy's health (a proxy failure is a value, not an error)."""
    healthy, detail = await api.proxy_health()
    for _ in range(attempts - 1):
        if healthy:
            break
        await asyncio.sleep(pause)
        healthy, detail = await api.proxy_health()
    try:
        apps = await api.applications()
    except ServeApiError as exc:
        return ServeState(None, healthy, str(exc), detail)
    return ServeState(apps, healthy, None, detail)
