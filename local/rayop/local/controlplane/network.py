"""How the local control plane's endpoints are probed, and how kwok's made-up pod addresses are kept on this
machine."""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import urllib.request


def blackhole_kwok_pod_ips(cidr: str) -> None:
    """kwok's pods get made-up IPs from ``cidr`` that no host has. A client that connects to one (the
    operator polling a kwok head's dashboard) must never send a packet off this machine: a blackhole route drops
    them here, so such a head simply never answers. Needs root (as the local node does); idempotent."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(["ip", "route", "replace", "blackhole", cidr], check=False, capture_output=True,
                       timeout=10)


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


def https_ok(port: int) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=2) as resp:
        return bool(resp.status == 200)
