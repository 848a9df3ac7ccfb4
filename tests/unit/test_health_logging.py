"""The kubelet probes ``/healthz`` every few seconds: the operator answers without writing a log line each time."""

from __future__ import annotations

import logging
import socket

import aiohttp
import pytest

from rayop.operator.health import Health, serve_health

pytestmark = pytest.mark.unit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_probe_of_healthz_writes_no_log_line(caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    runner = await serve_health(Health(identity="test", role="leader"), port)
    try:
        with caplog.at_level(logging.DEBUG):
            async with aiohttp.ClientSession() as session:
                for _ in range(3):
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        assert resp.status == 200
                        assert (await resp.json())["role"] == "leader"
    finally:
        await runner.cleanup()
    assert [r for r in caplog.records if r.name.startswith("aiohttp")] == []
