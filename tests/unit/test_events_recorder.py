"""EventRecorder: events are queued and posted in the background, never awaited by a reconcile pass."""

from __future__ import annotations

import asyncio
from typing import Any

from rayop.kube.events import EventRecorder

CLUSTER = {"apiVersion": "ray.io/v1", "kind": "RayCluster",
           "metadata": {"name": "rc", "namespace": "ns", "uid": "u1", "resourceVersion": "7"}}


class FakeClient:
    def __init__(self, gate: asyncio.Event | None = None, fail: bool = False) -> None:
        self.created: list[dict[str, Any]] = []
        self.gate = gate
        self.fail = fail

    async def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("apiserver down")
        self.created.append(obj)
        return obj


async def test_record_returns_at_once_and_the_event_is_posted_in_the_background() -> None:
    gate = asyncio.Event()
    client = FakeClient(gate)
    rec = EventRecorder(client, "raycluster-controller")  # type: ignore[arg-type]
    rec.normal(CLUSTER, "CreatedWorkerPod", "Created worker Pod ns/rc-w-abcde")
    await asyncio.sleep(0.01)
    assert client.created == []  # the API call is still blocked; the caller was not
    gate.set()
    await rec.flush()
    (event,) = client.created
    assert (event["type"], event["reason"], event["message"]) == (
        "Normal", "CreatedWorkerPod", "Created worker Pod ns/rc-w-abcde")
    assert event["involvedObject"]["uid"] == "u1" and event["source"] == {"component": "raycluster-controller"}
    await rec.close()


async def test_events_keep_their_order_with_one_sender() -> None:
    client = FakeClient()
    rec = EventRecorder(client, "raycluster-controller")  # type: ignore[arg-type]
    for i in range(5):
        rec.warning(CLUSTER, "FailedToCreateWorkerPod", f"attempt {i}")
    await rec.flush()
    assert [e["message"] for e in client.created] == [f"attempt {i}" for i in range(5)]
    await rec.close()


async def test_failures_and_a_full_queue_never_raise() -> None:
    client = FakeClient(fail=True)
    rec = EventRecorder(client, "raycluster-controller", max_queued=2)  # type: ignore[arg-type]
    for i in range(10):
        rec.normal(CLUSTER, "CreatedWorkerPod", f"pod {i}")
    await rec.flush()
    await rec.close()
    assert client.created == []
