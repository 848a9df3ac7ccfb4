"""Kubernetes events on the RayCluster, with KubeRay's reasons (``CreatedWorkerPod``, ``FailedToCreateHeadPod``...).

Events are written only for actions the operator took (or failed to take), never for observations, so a quiet
cluster produces no events. Writing an event is best effort: a failure is logged, never raised.

Like client-go's event broadcaster (which KubeRay uses), recording only queues the event; one sender task (as
client-go's one sink goroutine) posts them in the background. A reconcile pass therefore never waits for its
events, and during a burst events take a back seat to pod creates instead of doubling the round trips of each pass.
The queue is bounded: when it is full, events are dropped with a log line (client-go drops them too), never
blocking reconciliation.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from typing import Any

from rayop.kube.client import KubeClient

logger = logging.getLogger("rayop.events")


def build_event(involved: dict[str, Any], event_type: str, reason: str, message: str, component: str,
                now: dt.datetime) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (a RayCluster body)."""
    meta = involved["metadata"]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", "ray.io/v1"), "kind": involved.get("kind", "RayCluster"),
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """Queues events for one controller (``raycluster-controller`` etc.) and posts them in the background."""

    def __init__(self, client: KubeClient, component: str, *, senders: int = 1, max_queued: int = 5000) -> None:
        self.client = client
        self.component = component
        self._senders = senders
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=max_queued)
        self._tasks: list[asyncio.Task[None]] = []

    def record(self, involved: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        """Queue an event (timestamped now); never blocks, never raises."""
        body = build_event(involved, event_type, reason, message, self.component, dt.datetime.now(dt.UTC))
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._send(), name=f"events-{self.component}-{i}")
                           for i in range(self._senders)]
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            logger.warning("event queue full, dropping event %s: %s", reason, message)

    def normal(self, involved: dict[str, Any], reason: str, message: str) -> None:
        self.record(involved, "Normal", reason, message)

    def warning(self, involved: dict[str, Any], reason: str, message: str) -> None:
        self.record(involved, "Warning", reason, message)

    async def flush(self) -> None:
        """Wait until every queued event has been posted (or failed)."""
        await self._queue.join()

    async def close(self, timeout: float = 5.0) -> None:
        """Post what is queued (up to ``timeout`` seconds), then stop the senders."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _send(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self.client.create(body)
            except Exception as exc:
                logger.warning("could not record event %s: %s", body["reason"], exc)
            finally:
                self._queue.task_done()
