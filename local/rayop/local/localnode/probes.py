"""Startup, liveness and readiness probes of one container run (exec, httpGet, tcpSocket; grpc is reported as
unsupported and counts as success).  httpGet/tcpSocket connect from the host to the pod IP (the host reaches every
pod IP over the bridge), exec runs the command inside the container's namespaces with its environment."""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .launcher import exec_in_container_argv

log = logging.getLogger(__name__)


def resolve_port(port: int | str, container: Mapping[str, Any]) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports", []) or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"named port {port!r} not found in container {container.get('name')}")


def run_probe(
    probe: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, pid: int, env: Mapping[str, str]
) -> tuple[bool, str]:
    """One probe attempt: (success, message)."""
    timeout = float(probe.get("timeoutSeconds", 1) or 1)
    try:
        if "exec" in probe:
            argv = exec_in_container_argv(
                pid, list(probe["exec"].get("command", [])), container.get("workingDir", "")
            )
            res = subprocess.run(argv, env=dict(env), capture_output=True, timeout=timeout)
            return res.returncode == 0, res.stdout.decode(errors="replace")[-200:]
        if "httpGet" in probe:
            hg = probe["httpGet"]
            host = hg.get("host") or pod_ip
            port = resolve_port(hg["port"], container)
            conn: http.client.HTTPConnection
            if (hg.get("scheme") or "HTTP").upper() == "HTTPS":
                conn = http.client.HTTPSConnection(
                    host, port, timeout=timeout, context=ssl._create_unverified_context()
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            headers = {h["name"]: h["value"] for h in hg.get("httpHeaders", []) or []}
            headers.setdefault("User-Agent", "kube-probe/1.36")
            try:
                conn.request("GET", hg.get("path") or "/", headers=headers)
                status = conn.getresponse().status
            finally:
                conn.close()
            return 200 <= status < 400, f"HTTP probe failed with statuscode: {status}"
        if "tcpSocket" in probe:
            ts = probe["tcpSocket"]
            with socket.create_connection(
                (ts.get("host") or pod_ip, resolve_port(ts["port"], container)), timeout=timeout
            ):
                return True, ""
        if "grpc" in probe:
            return True, "grpc probes are not supported on local nodes (counted as success)"
    except subprocess.TimeoutExpired:
        return False, f"command timed out after {timeout}s"
    except (OSError, ValueError, http.client.HTTPException) as err:
        return False, str(err)
    return True, ""


@dataclass
class _State:
    spec: Mapping[str, Any]
    next_at: float
    successes: int = 0
    failures: int = 0

    def record(self, ok: bool) -> None:
        if ok:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds", 10) or 10)


class Prober:
    """Runs in its own thread for the lifetime of one container run; reports through callbacks."""

    def __init__(
        self,
        container: Mapping[str, Any],
        pod_ip: str,
        pid: int,
        env: Mapping[str, str],
        *,
        on_started: Callable[[], None],
        on_ready: Callable[[bool], None],
        on_unhealthy: Callable[[str], None],
    ) -> None:
        self.container, self.pod_ip, self.pid, self.env = container, pod_ip, pid, env
        self.on_started, self.on_ready, self.on_unhealthy = on_started, on_ready, on_unhealthy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"probe-{container['name']}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _make(self, key: str, t0: float) -> _State | None:
        spec = self.container.get(key)
        return None if not spec else _State(spec, t0 + float(spec.get("initialDelaySeconds", 0) or 0))

    def _loop(self) -> None:
        t0 = time.monotonic()
        startup = self._make("startupProbe", t0)
        liveness, readiness = self._make("livenessProbe", t0), self._make("readinessProbe", t0)
        started = startup is None
        if started:
            self.on_started()
        ready = False
        if readiness is None and started:
            ready = True
            self.on_ready(True)
        while not self._stop.wait(0.2):
            now = time.monotonic()
            if not started and startup is not None:
                if now >= startup.next_at:
                    ok, msg = self._probe(startup)
                    if ok:
                        started = True
                        self.on_started()
                        t1 = time.monotonic()
                        liveness, readiness = (
                            self._make("livenessProbe", t1),
                            self._make("readinessProbe", t1),
                        )
                        if readiness is None:
                            ready = True
                            self.on_ready(True)
                    elif startup.failures >= int(startup.spec.get("failureThreshold", 3) or 3):
                        self.on_unhealthy(f"Startup probe failed: {msg}")
                        return
                continue
            if liveness is not None and now >= liveness.next_at:
                ok, msg = self._probe(liveness)
                if not ok and liveness.failures >= int(liveness.spec.get("failureThreshold", 3) or 3):
                    self.on_unhealthy(f"Liveness probe failed: {msg}")
                    return
            if readiness is not None and now >= readiness.next_at:
                ok, _ = self._probe(readiness)
                want = ready
                if ok and readiness.successes >= int(readiness.spec.get("successThreshold", 1) or 1):
                    want = True
                elif not ok and readiness.failures >= int(readiness.spec.get("failureThreshold", 3) or 3):
                    want = False
                if want != ready:
                    ready = want
                    self.on_ready(ready)

    def _probe(self, st: _State) -> tuple[bool, str]:
        ok, msg = run_probe(st.spec, self.container, self.pod_ip, self.pid, self.env)
        st.record(ok)
        st.next_at = time.monotonic() + st.period
        return ok, msg
