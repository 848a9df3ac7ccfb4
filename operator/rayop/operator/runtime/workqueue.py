"""Level-triggered, per-object workers: the controller-runtime work queue, on asyncio.

Every watched object gets one worker task. Any event about the object or its children only *wakes* it; the worker
then reconciles from the latest cached state, so bursts of events collapse into one pass, and one object is never
reconciled twice at the same time. A semaphore bounds how many passes run at once across all objects, and every
worker also wakes on a resync period as a safety net.

A change of the object itself is reconciled after ``debounce``; a wake-up from a child (a pod changed) waits
``child_debounce`` first, so the many pod events of a scale-up (added, bound, running, ready, for every pod) are
collapsed into a few passes and a few status writes instead of one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("rayop.workqueue")

Key = tuple[str, str]

#: Retry delays after failed passes: 2 s doubling up to 5 minutes, per object (controller-runtime's per-item
#: exponential back-off, which KubeRay uses). A lasting failure (a ResourceQuota, a webhook refusing pods, a
#: terminating namespace) then costs a pass and a Warning event every few minutes instead of every 2 s; an event
#: about the object or its children still wakes it at once.
ERROR_BACKOFF_FIRST_S = 2.0
ERROR_BACKOFF_MAX_S = 300.0


def error_backoff(failures: int) -> float:
    """Delay before the next pass after ``failures`` consecutive failed passes (``failures`` >= 1)."""
    return min(ERROR_BACKOFF_FIRST_S * 2.0 ** min(max(failures - 1, 0), 30), ERROR_BACKOFF_MAX_S)


class Failed:
    """Returned by a pass that failed without raising: retry after :func:`error_backoff` (as a raised error does)."""


FAILED = Failed()
#: A pass returns the delay until the next one (None: wait for an event or the resync period), or FAILED.
ReconcileFn = Callable[[dict[str, Any]], Awaitable[float | Failed | None]]


@dataclass
class _Worker:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: The object itself changed since the last pass (not only a child): use the short debounce.
    urgent: bool = True
    body: dict[str, Any] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    #: Consecutive failed passes (reset by the first one that does not fail).
    failures: int = 0


class WorkQueue:
    """Runs ``reconcile(body)`` for each object key whenever it is woken."""

    def __init__(self, reconcile: ReconcileFn, *, concurrency: int, resync: float, debounce: float = 0.02,
                 child_debounce: float | None = None) -> None:
        self._reconcile = reconcile
        self._sem = asyncio.Semaphore(concurrency)
        self._resync = resync
        self._debounce = debounce
        self._child_debounce = debounce if child_debounce is None else max(debounce, child_debounce)
        self._workers: dict[Key, _Worker] = {}

    def upsert(self, key: Key, body: dict[str, Any], *, wake: bool = True) -> None:
        """The object changed (or was listed): remember its latest body and wake its worker.

        With ``wake=False`` only the body is replaced (the next pass reads it); a new object is always woken.
        """
        worker = self._workers.get(key)
        if worker is None:
            worker = self._workers[key] = _Worker(body=body)
            worker.task = asyncio.create_task(self._loop(key, worker), name=f"reconcile-{key[0]}/{key[1]}")
            wake = True
        worker.body = body
        if wake:
            worker.urgent = True
            worker.wake.set()

    def body(self, key: Key) -> dict[str, Any] | None:
        """The latest body remembered for ``key`` (None for an unknown object)."""
        worker = self._workers.get(key)
        return worker.body if worker is not None else None

    def wake(self, key: Key) -> None:
        """Something the object owns changed."""
        worker = self._workers.get(key)
        if worker is not None:
            worker.wake.set()

    def discard(self, key: Key) -> None:
        """Forget the object now (it was deleted); its worker is cancelled without waiting."""
        worker = self._workers.pop(key, None)
        if worker is not None and worker.task is not None:
            worker.task.cancel()

    async def remove(self, key: Key) -> None:
        worker = self._workers.pop(key, None)
        if worker is not None and worker.task is not None:
            worker.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker.task

    async def close(self) -> None:
        for key in list(self._workers):
            await self.remove(key)

    def __len__(self) -> int:
        return len(self._workers)

    async def _loop(self, key: Key, worker: _Worker) -> None:
        delay: float | None = 0.0
        while True:
            timeout = self._resync if delay is None else delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.wake.wait(), timeout=timeout)
            await asyncio.sleep(self._debounce)
            if not worker.urgent and worker.wake.is_set():
                await asyncio.sleep(self._child_debounce - self._debounce)
            worker.wake.clear()
            worker.urgent = False
            async with self._sem:
                try:
                    result = await self._reconcile(worker.body)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("reconcile of %s/%s failed", *key)
                    result = FAILED
            if isinstance(result, Failed):
                worker.failures += 1
                delay = error_backoff(worker.failures)
            else:
                worker.failures, delay = 0, result
