"""``/healthz`` of the operator process: 200 while it works (as leader or standby), 503 once it does not.

The body says which role the process has (``{"role": "leader"}`` or ``"standby"``), so ``kubectl exec ... curl``
or a probe log shows which replica acts. The check fails when an informer task died (or ``failed`` is set), so a
supervisor (the kubelet) restarts the process instead of leaving a silent operator running. A standby that lost its
lease during an API server outage is healthy: it takes the lease back by itself when the API answers again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Health:
    """What the endpoint reports; the process updates it."""

    identity: str
    role: str = "starting"
    checks: list[Callable[[], bool]] = field(default_factory=list)
    failed: str | None = None

    def report(self) -> tuple[int, dict[str, Any]]:
        ok = self.failed is None and all(check() for check in self.checks)
        body = {"role": self.role, "identity": self.identity, "ok": ok}
        if self.failed:
            body["reason"] = self.failed
        return (200 if ok else 503), body


async def serve_health(health: Health, port: int) -> web.AppRunner:
    """Serve ``/healthz`` on ``port`` (all interfaces, for the kubelet's probe)."""

    async def healthz(_: web.Request) -> web.Response:
        code, body = health.report()
        return web.Response(status=code, text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
