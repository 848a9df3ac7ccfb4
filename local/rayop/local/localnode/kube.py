"""The only module that talks to the API server: a small JSON client over ``requests`` (dicts in, dicts out).

Credentials come from a kubeconfig, read by :mod:`rayop.kube.config` (the operator's own loader).
``watch_forever`` is a minimal informer: list, then watch from the list's resourceVersion,
re-listing after a 410 Gone or a dropped connection.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import requests
import urllib3

from rayop.kube.config import from_kubeconfig

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def _as_file(path: str | None, data: bytes | None, suffix: str) -> str | None:
    """requests loads certificates from files only: inline kubeconfig data goes to a private temp file."""
    if path or not data:
        return path
    fd, name = tempfile.mkstemp(prefix="rayop-localnode-", suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return name


class KubeClient:
    """Synchronous JSON client for the agent's threads; credentials come from rayop.kube.config like everywhere."""

    def __init__(self, kubeconfig: str) -> None:
        conn = from_kubeconfig(kubeconfig)
        self.host = conn.server
        self.session = requests.Session()
        # Never let *_PROXY or REQUESTS_CA_BUNDLE from the environment redirect or re-verify API traffic.
        self.session.trust_env = False
        ca = _as_file(conn.ca_path, conn.ca_data, ".crt")
        self.session.verify = False if conn.insecure else (ca or True)
        cert = _as_file(conn.cert_path, conn.cert_data, ".crt")
        key = _as_file(conn.key_path, conn.key_data, ".key")
        if cert and key:
            self.session.cert = (cert, key)
        token = conn.bearer_token()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if conn.insecure:
            urllib3.disable_warnings()

    # -- plain requests --------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float = 15.0,
    ) -> Any:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        resp = self.session.request(
            method, self.host + path, data=data, params=params, headers=headers, timeout=timeout
        )
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def get(self, path: str, params: dict[str, Any] | None = None) -> Obj:
        return self.request("GET", path, params=params)

    def get_or_none(self, path: str) -> Obj | None:
        try:
            return self.get(path)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def create(self, path: str, body: Obj) -> Obj:
        return self.request("POST", path, body)

    def create_or_get(self, path: str, body: Obj) -> Obj:
        """Create, or return the existing object on 409."""
        try:
            return self.create(path, body)
        except ApiError as err:
            if err.status != 409:
                raise
            return self.get(f"{path}/{quote(body['metadata']['name'])}")

    def patch(self, path: str, body: Obj, strategic: bool = False) -> Obj:
        ctype = "application/strategic-merge-patch+json" if strategic else "application/merge-patch+json"
        return self.request("PATCH", path, body, content_type=ctype)

    def delete(self, path: str, body: Obj | None = None) -> None:
        try:
            self.request("DELETE", path, body)
        except ApiError as err:
            if err.status != 404:
                raise

    # -- streaming -------------------------------------------------------------------------------------------
    def watch(
        self,
        path: str,
        resource_version: str,
        params: dict[str, Any] | None = None,
        timeout_seconds: int = 240,
    ) -> Iterator[tuple[str, Obj]]:
        q = {
            **(params or {}),
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        with self.session.get(
            self.host + path, params=q, stream=True, timeout=(10, timeout_seconds + 30)
        ) as r:
            if r.status_code >= 400:
                raise ApiError(r.status_code, r.text)
            for line in r.iter_lines():
                if line:
                    ev = json.loads(line)
                    yield ev["type"], ev["object"]


def pod_path(namespace: str, name: str = "") -> str:
    base = f"/api/v1/namespaces/{namespace}/pods"
    return f"{base}/{name}" if name else base


def watch_forever(
    client: KubeClient,
    path: str,
    on_event: Callable[[str, Obj], None],
    stop: threading.Event,
    params: dict[str, Any] | None = None,
    on_sync: Callable[[list[Obj]], None] | None = None,
) -> None:
    """List+watch ``path`` until ``stop`` is set.  After every (re)list ``on_sync`` gets the full item list, so
    the caller can drop objects that vanished while the watch was down; then ``on_event`` gets every change."""
    while not stop.is_set():
        try:
            listing = client.get(path, params=params)
            items = listing.get("items", [])
            if on_sync is not None:
                on_sync(items)
            else:
                for item in items:
                    on_event("ADDED", item)
            rv = listing["metadata"]["resourceVersion"]
            while not stop.is_set():
                for etype, obj in client.watch(path, rv, params=params):
                    if etype == "ERROR":
                        raise ApiError(int(obj.get("code", 500)), str(obj.get("message")))
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if etype != "BOOKMARK":
                        on_event(etype, obj)
                    if stop.is_set():
                        return
        except Exception as err:
            if stop.is_set():
                return
            if not (isinstance(err, ApiError) and err.status == 410):
                log.warning("watch %s: %s; re-listing", path, err)
                time.sleep(1.0)
