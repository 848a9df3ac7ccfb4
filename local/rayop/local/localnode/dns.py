"""Cluster DNS for local-node pods: a small authoritative server for ``cluster.local`` (a stand-in for CoreDNS).

It listens on the bridge gateway (UDP and TCP port 53) and is published as the selector-less Service
``kube-system/kube-dns`` with ClusterIP 10.96.0.10 and a hand-made EndpointSlice pointing at the gateway, so pods
reach it exactly as in a real cluster (through Service routing).  It answers, from the live Service/EndpointSlice
cache:

* ``<svc>.<ns>.svc.cluster.local`` A: the ClusterIP; for a headless Service the ready endpoint IPs;
* ``<hostname>.<svc>.<ns>.svc.cluster.local`` A: an endpoint with that hostname (StatefulSet-style pods);
* ``<a-b-c-d>.<ns>.pod.cluster.local`` A: that address;
* AAAA/other types of a known name: NOERROR without answers; anything else (other zones, reverse lookups)
  NXDOMAIN at once, so nothing waits on a timeout.  There is no upstream: pods never resolve external names.

Not emulated: SRV and PTR records, ExternalName CNAMEs, EDNS, negative-caching SOA.  TTL is 5 s.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import socketserver
import struct
import threading
from typing import Any

from . import network_plan as plan
from .services import ClusterCache, slices_of

log = logging.getLogger(__name__)

TYPE_A = 1
NOERROR, NXDOMAIN = 0, 3


def lookup(
    name: str, services: list[dict[str, Any]], slices: list[dict[str, Any]], domain: str = plan.CLUSTER_DOMAIN
) -> list[str] | None:
    """A records for ``name`` (lower-case, no trailing dot); None when the name does not exist."""
    suffix = "." + domain
    if not name.endswith(suffix):
        return None
    labels = name[: -len(suffix)].split(".")
    if len(labels) == 3 and labels[2] == "pod":
        try:
            return [str(ipaddress.IPv4Address(labels[0].replace("-", ".")))]
        except ValueError:
            return None
    if labels[-1] != "svc" or len(labels) not in (3, 4):
        return None
    host = labels[0] if len(labels) == 4 else None
    svc_name, ns = labels[-3], labels[-2]
    svc = next(
        (s for s in services if s["metadata"]["name"] == svc_name and s["metadata"].get("namespace") == ns),
        None,
    )
    if svc is None:
        return None
    spec = svc.get("spec", {})
    headless = spec.get("clusterIP") in (None, "", "None")
    if host is None and not headless:
        return [spec["clusterIP"]]
    ips: list[str] = []
    for sl in slices_of(svc, slices):
        for ep in sl.get("endpoints") or []:
            ready = (ep.get("conditions") or {}).get("ready") is not False
            if host is not None and ep.get("hostname") != host:
                continue
            if ready or spec.get("publishNotReadyAddresses"):
                ips += ep.get("addresses", [])[:1]
    if host is not None and not ips:
        return None
    return sorted(set(ips))


def parse_query(data: bytes) -> tuple[int, int, str, int, int]:
    """(id, flags, qname, qtype, end offset of the question)."""
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if qd != 1:
        raise ValueError("expected one question")
    labels, i = [], 12
    while data[i]:
        n = data[i]
        labels.append(data[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, _qclass = struct.unpack("!HH", data[i + 1 : i + 5])
    return qid, flags, ".".join(labels).lower(), qtype, i + 5


def answer(data: bytes, cache: ClusterCache | None, ttl: int = 5) -> bytes:
    try:
        qid, flags, qname, qtype, end = parse_query(data)
    except (ValueError, IndexError, struct.error):
        return b""  # not a query we understand: drop it
    services, slices = cache.snapshot() if cache else ([], [])
    ips = lookup(qname, services, slices)
    rcode = NXDOMAIN if ips is None else NOERROR
    records = [ip for ip in (ips or []) if qtype == TYPE_A]
    rflags = 0x8000 | (flags & 0x7800) | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
    out = struct.pack("!HHHHHH", qid, rflags, 1, len(records), 0, 0) + data[12:end]
    for ip in records:
        out += struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, ttl, 4) + socket.inet_aton(ip)
    return out


class DnsServer:
    def __init__(
        self, cache: ClusterCache, host: str = plan.DNS_LISTEN_IP, port: int = plan.DNS_PORT
    ) -> None:
        self.cache = cache
        outer = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = answer(data, outer.cache)
                if reply:
                    sock.sendto(reply[:512], self.client_address)

        class Tcp(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(OSError, struct.error):
                    while True:
                        (n,) = struct.unpack("!H", self.rfile.read(2))
                        reply = answer(self.rfile.read(n), outer.cache)
                        self.wfile.write(struct.pack("!H", len(reply)) + reply)

        socketserver.ThreadingUDPServer.allow_reuse_address = True
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.udp = socketserver.ThreadingUDPServer((host, port), Udp)
        self.tcp = socketserver.ThreadingTCPServer((host, port), Tcp)
        self.udp.daemon_threads = self.tcp.daemon_threads = True

    def start(self) -> None:
        for srv in (self.udp, self.tcp):
            threading.Thread(target=srv.serve_forever, daemon=True, name="dns").start()

    def stop(self) -> None:
        for srv in (self.udp, self.tcp):
            srv.shutdown()
            srv.server_close()


def publish_service(client: Any) -> None:
    """Create kube-system/kube-dns (ClusterIP 10.96.0.10, no selector) and its EndpointSlice to the gateway."""
    ports = [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    ]
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
        },
        "spec": {"clusterIP": plan.CLUSTER_DNS_IP, "ports": ports},
    }
    got = client.create_or_get("/api/v1/namespaces/kube-system/services", svc)
    if got["spec"].get("clusterIP") != plan.CLUSTER_DNS_IP:
        log.error(
            "kube-system/kube-dns exists with ClusterIP %s, pods expect %s",
            got["spec"].get("clusterIP"),
            plan.CLUSTER_DNS_IP,
        )
    eps = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": "IPv4",
        "metadata": {
            "name": "kube-dns-rayop-local",
            "namespace": "kube-system",
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "rayop-localnode",
            },
        },
        "endpoints": [{"addresses": [plan.DNS_LISTEN_IP], "conditions": {"ready": True}}],
        "ports": ports,
    }
    client.create_or_get("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", eps)
