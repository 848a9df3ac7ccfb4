"""The only code in the operator that talks to the Kubernetes API: a small async client on aiohttp.

Errors are mapped to a few exception types (NotFound, Conflict, Invalid) so reconcilers can express intent
("create unless it exists", "retry on conflict") without inspecting HTTP codes. One async HTTP stack (aiohttp) serves
requests, watches and ``/healthz``; the synchronous ``kubernetes`` client (threads, memory) stays out of the operator.
"""

from __future__ import annotations

import json
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from .config import Connection

JSON = dict[str, Any]


class ApiError(Exception):
    """An API call failed; ``status`` is the HTTP code, ``body`` the Status object if any."""

    def __init__(self, status: int, body: JSON | None, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body or {}
        self.message = message

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", ""))


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: the object exists (create) or changed underneath us (update)."""


class Invalid(ApiError):
    """422: rejected by validation (schema, CEL, admission)."""


def resource_path(
    api_version: str, plural: str, namespace: str | None = None, name: str | None = None,
    subresource: str | None = None,
) -> str:
    """``/api/v1/namespaces/ns/pods/name`` style paths for core and group resources."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [base]
    if namespace:
        parts.append(f"namespaces/{quote(namespace)}")
    parts.append(plural)
    if name:
        parts.append(quote(name))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def _ssl_context(conn: Connection) -> ssl.SSLContext | bool:
    if conn.insecure:
        return False
    ctx = ssl.create_default_context(cafile=conn.ca_path) if conn.ca_path else ssl.create_default_context()
    if conn.ca_data:
        ctx.load_verify_locations(cadata=conn.ca_data.decode())
    cert, key = conn.cert_path, conn.key_path
    if conn.cert_data and conn.key_data:
        # ssl only loads client certificates from files.
        tmp = Path(tempfile.mkdtemp(prefix="rayop-kube-"))
        (tmp / "c.crt").write_bytes(conn.cert_data)
        (tmp / "c.key").write_bytes(conn.key_data)
        (tmp / "c.key").chmod(0o600)
        cert, key = str(tmp / "c.crt"), str(tmp / "c.key")
    if cert and key:
        ctx.load_cert_chain(cert, key)
    return ctx


class KubeClient:
    """Async JSON client for one API server. Create once per process; close with :meth:`close`."""

    def __init__(self, conn: Connection, field_manager: str = "rayop", max_connections: int = 100) -> None:
        """``max_connections`` bounds the requests in flight (HTTP/1.1: one per connection); watches hold
        connections of their own and do not count against it."""
        self.conn = conn
        self.field_manager = field_manager
        self._ssl = _ssl_context(conn)
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        self._limit = max_connections

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=self._limit)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))
        return self._session

    async def _get_watch_session(self) -> aiohttp.ClientSession:
        if self._watch_session is None or self._watch_session.closed:
            self._watch_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0))
        return self._watch_session

    async def close(self) -> None:
        for session in (self._session, self._watch_session):
            if session is not None:
                await session.close()

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self.conn.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> JSON:
        session = await self._get_session()
        url = self.conn.server + path
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        data = None if body is None else (body if isinstance(body, str | bytes) else json.dumps(body))
        async with session.request(method, url, data=data, headers=self._headers(
                content_type if data is not None else None)) as resp:
            text = await resp.text()
            payload: JSON = {}
            if text:
                try:
                    payload = json.loads(text)
                except ValueError:
                    payload = {"message": text}
            if resp.status >= 400:
                message = str(payload.get("message", text))
                error_cls = {404: NotFound, 409: Conflict, 422: Invalid}.get(resp.status, ApiError)
                raise error_cls(resp.status, payload, message)
            return payload

    # -- verbs --------------------------------------------------------------------------------------------------
    async def get(self, api_version: str, plural: str, name: str, namespace: str | None = None) -> JSON:
        return await self.request("GET", resource_path(api_version, plural, namespace, name))

    async def list(
        self, api_version: str, plural: str, namespace: str | None = None, label_selector: str | None = None,
    ) -> list[JSON]:
        out = await self.request("GET", resource_path(api_version, plural, namespace),
                                 params={"labelSelector": label_selector})
        return list(out.get("items", []))

    async def create(self, obj: JSON, namespace: str | None = None) -> JSON:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        return await self.request(
            "POST", resource_path(obj["apiVersion"], plural_of(obj["kind"]), ns),
            obj, params={"fieldManager": self.field_manager},
        )

    async def replace(self, obj: JSON, namespace: str | None = None) -> JSON:
        """PUT the whole object. With ``metadata.resourceVersion`` set (as read) the server refuses with 409
        (:class:`Conflict`) if the object changed since, so read-modify-write never overwrites another writer."""
        ns = namespace or obj.get("metadata", {}).get("namespace")
        return await self.request(
            "PUT", resource_path(obj["apiVersion"], plural_of(obj["kind"]), ns, obj["metadata"]["name"]),
            obj, params={"fieldManager": self.field_manager},
        )

    async def patch(
        self, api_version: str, plural: str, name: str, patch: Any, namespace: str | None = None,
        *, kind: str = "merge", subresource: str | None = None,
    ) -> JSON:
        content_type = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[kind]
        return await self.request(
            "PATCH", resource_path(api_version, plural, namespace, name, subresource), patch,
            params={"fieldManager": self.field_manager}, content_type=content_type,
        )

    async def patch_status(self, api_version: str, plural: str, name: str, status: JSON,
                           namespace: str | None = None) -> JSON:
        return await self.patch(api_version, plural, name, {"status": status}, namespace, subresource="status")

    async def delete(
        self, api_version: str, plural: str, name: str, namespace: str | None = None, *,
        grace_seconds: int | None = None, propagation: str | None = "Background",
        precondition_uid: str | None = None,
    ) -> None:
        body: JSON = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        if propagation:
            body["propagationPolicy"] = propagation
        if precondition_uid:
            body["preconditions"] = {"uid": precondition_uid}
        await self.request("DELETE", resource_path(api_version, plural, namespace, name), body)

    async def watch(
        self, api_version: str, plural: str, namespace: str | None = None, *, resource_version: str | None = None,
        label_selector: str | None = None, timeout_seconds: int = 300,
    ) -> AsyncIterator[JSON]:
        """Yield watch events (``{"type":..., "object":...}``) until the server closes the stream."""
        session = await self._get_watch_session()
        params = {
            "watch": "true", "resourceVersion": resource_version, "labelSelector": label_selector,
            "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": "true",
        }
        url = self.conn.server + resource_path(api_version, plural, namespace) + "?" + urlencode(
            {k: v for k, v in params.items() if v is not None})
        async with session.get(url, headers=self._headers(),
                               timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30)) as resp:
            if resp.status >= 400:
                raise ApiError(resp.status, None, await resp.text())
            async for line in resp.content:
                if line.strip():
                    yield json.loads(line)


_IRREGULAR_PLURALS = {"Endpoints": "endpoints", "Ingress": "ingresses", "NetworkPolicy": "networkpolicies",
                      "PodDisruptionBudget": "poddisruptionbudgets"}


def plural_of(kind: str) -> str:
    """The resource name of a kind rayop creates (lower-case plural)."""
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"
