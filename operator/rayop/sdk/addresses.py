"""Where this process can reach a Ray head: the ``ray://`` client and the dashboard.

The choice is pure (:func:`choose`); only :func:`tcp_open` touches the network. In a pod the cluster DNS name of the
head Service works (``<svc>.<ns>.svc.cluster.local``). Outside, the head Service's ClusterIP or the head pod IP
works only where the network routes them (on the host of rayop's local mode both do: the local node routes pod IPs
and DNATs ClusterIPs for host processes); each is tried with a short TCP connect. When neither answers, the result
says so plainly and names the port-forward that would work, instead of handing out an address that cannot connect.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CLIENT_PORT = 10001
DASHBOARD_PORT = 8265
SERVE_PORT = 8000


@dataclass(frozen=True)
class Addresses:
    """Addresses of one cluster's head as seen from here; ``None`` when nothing reachable exists (``why`` says so)."""

    client_address: str | None
    dashboard_address: str | None
    host: str | None = None
    via: str = ""
    why: str = ""
    tried: tuple[str, ...] = field(default_factory=tuple)

    def require(self) -> Addresses:
        from rayop.sdk.errors import Unreachable

        if self.client_address is None:
            raise Unreachable(self.why)
        return self


def _port(cluster: dict[str, Any], name: str, default: int) -> int:
    endpoints = (cluster.get("status") or {}).get("endpoints") or {}
    try:
        return int(endpoints.get(name, default))
    except (TypeError, ValueError):
        return default


def candidates(cluster: dict[str, Any], inside_pod: bool) -> list[tuple[str, str]]:
    """(host, how) pairs to try, best first."""
    meta = cluster.get("metadata") or {}
    head = (cluster.get("status") or {}).get("head") or {}
    ns = meta.get("namespace") or "default"
    svc = head.get("serviceName") or f"{meta.get('name')}-head-svc"
    out: list[tuple[str, str]] = []
    if inside_pod:
        out.append((f"{svc}.{ns}.svc.cluster.local", "cluster DNS"))
    if head.get("serviceIP"):
        out.append((head["serviceIP"], "head Service ClusterIP"))
    if head.get("podIP") and head.get("podIP") != head.get("serviceIP"):
        out.append((head["podIP"], "head pod IP"))
    return out


def choose(cluster: dict[str, Any], inside_pod: bool, reachable: Callable[[str, int], bool]) -> Addresses:
    """The first candidate whose client port answers; else none, with the reason and what to do instead."""
    client_port = _port(cluster, "client", CLIENT_PORT)
    dash_port = _port(cluster, "dashboard", DASHBOARD_PORT)
    tried: list[str] = []
    for host, how in candidates(cluster, inside_pod):
        if reachable(host, client_port):
            return Addresses(f"ray://{host}:{client_port}", f"http://{host}:{dash_port}", host, how,
                             tried=(*tried, f"{host} ({how})"))
        tried.append(f"{host} ({how})")
    meta = cluster.get("metadata") or {}
    svc = ((cluster.get("status") or {}).get("head") or {}).get("serviceName") or f"{meta.get('name')}-head-svc"
    where = ", ".join(tried) if tried else "no head address is published yet"
    why = (f"no address of RayCluster {meta.get('namespace')}/{meta.get('name')} is reachable from here "
           f"(tried port {client_port} on: {where}); from outside the cluster run "
           f"`kubectl port-forward -n {meta.get('namespace')} svc/{svc} {client_port} {dash_port}` and use "
           f"ray://127.0.0.1:{client_port}")
    return Addresses(None, None, None, "", why, tuple(tried))


def tcp_open(host: str, port: int, timeout: float = 1.5) -> bool:
    """True when a TCP connection to host:port succeeds within ``timeout``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
