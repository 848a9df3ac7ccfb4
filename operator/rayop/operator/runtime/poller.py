"""Bounded asynchronous polling of outside HTTP endpoints (Ray's dashboard job API, the Serve API).

A reconcile pass must never await a Ray HTTP call: KubeRay's users report that polling the dashboard from inside
reconcile overloads the operator once there are many RayJobs (ray-project/kuberay#4069, #4087), because one slow or
dead head holds a reconcile worker for the whole HTTP timeout. Here each pass only calls :meth:`Poller.ensure` (cheap
and idempotent) and reads :meth:`Poller.latest`; the calls happen in the background, and when a result differs from
the previous one the poller calls ``on_change(key)``, which the runtime uses to wake the owner in its work queue, the
way an informer event does.

What bounds the cost:

* one call in flight per key: a target is one task that calls, records the result, then waits;
* a timeout per call, so a head that never answers is a failure after ``timeout`` seconds, not a stuck task;
* exponential backoff while a target keeps failing (capped), reset by the first success;
* a cap on calls in flight across all targets. Targets whose last call failed draw from a separate, smaller pool,
  so a hundred heads that never answer hold at most that many connections and cannot delay the heads that answer.
  (A new target starts in the healthy pool, so an unknown dead head costs one healthy slot for one timeout.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger("rayop.poller")

V = TypeVar("V")
Key = Hashable
#: One call to the outside service; its return value is the target's value. Values are compared with ``==`` to
#: decide whether the owner must be woken, so they should be small comparable data (a status string, a dataclass).
Fetch = Callable[[], Awaitable[V]]


@dataclass(frozen=True)
class PollResult(Generic[V]):
    """What the poller knows about one target after its last call."""

    #: Value of the last successful call; kept during a failure streak, since a stale answer is still an answer.
    value: V | None = None
    #: Clock time of the last success (None: never succeeded).
    succeeded_at: float | None = None
    #: Text of the last failure; None once a call succeeds.
    error: str | None = None
    #: Consecutive failed calls (0 after a success).
    failures: int = 0
    #: Clock time of the first failure of the current streak: RayJob compares it with its deadline to report
    #: ``JobStatusCheckTimeoutExceeded``. Cleared by a success.
    failing_since: float | None = None
    #: Clock time at which this result was recorded.
    observed_at: float = 0.0
    #: Seconds after ``observed_at`` until the next call (the interval, or the backoff while failing).
    next_delay: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failures == 0


def backoff_delay(interval: float, failures: int, cap: float) -> float:
    """Pause before the next call after ``failures`` consecutive failures: the interval doubled per failure, never
    more than ``cap`` (nor less than the interval itself)."""
    if failures <= 0:
        return interval
    return max(interval, min(interval * 2.0 ** min(failures, 30), cap))


@dataclass
class _Target(Generic[V]):
    fetch: Fetch[V]
    interval: float
    timeout: float
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    result: PollResult[V] | None = None


class Poller(Generic[V]):
    """Polls every registered target in the background and keeps its latest result."""

    def __init__(self, on_change: Callable[[Key], None], *, max_in_flight: int = 16,
                 max_failing_in_flight: int | None = None, max_backoff: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._on_change = on_change
        self._healthy = asyncio.Semaphore(max_in_flight)
        self._failing = asyncio.Semaphore(max_failing_in_flight or max(1, max_in_flight // 4))
        self._max_backoff = max_backoff
        self._clock = clock
        self._targets: dict[Key, _Target[V]] = {}
        self._running = False
        self._closed = False

    def ensure(self, key: Key, fetch: Fetch[V], *, interval: float, timeout: float) -> None:
        """Poll ``key`` with ``fetch`` every ``interval`` seconds, each call limited to ``timeout`` seconds.

        Called from every reconcile pass: an existing target only takes the new fetch and timings (a shorter
        interval applies at once); a new one is called as soon as a slot is free.
        """
        if self._closed:
            return
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = _Target(fetch, interval, timeout)
            if self._running:
                self._spawn(key, target)
            return
        target.fetch, target.timeout = fetch, timeout
        if interval != target.interval:
            target.interval = interval
            target.wake.set()

    def forget(self, key: Key) -> None:
        """Stop polling ``key`` and drop its result; a call in flight is cancelled."""
        target = self._targets.pop(key, None)
        if target is not None and target.task is not None:
            target.task.cancel()

    def latest(self, key: Key) -> PollResult[V] | None:
        """The result of the last call for ``key``; None if it is unknown or no call has finished yet."""
        target = self._targets.get(key)
        return target.result if target is not None else None

    def __contains__(self, key: object) -> bool:
        return key in self._targets

    def __len__(self) -> int:
        return len(self._targets)

    def start(self) -> None:
        """Start polling (inside the running event loop); targets ensured earlier start now."""
        if self._running or self._closed:
            return
        self._running = True
        for key, target in self._targets.items():
            self._spawn(key, target)

    async def close(self) -> None:
        """Cancel every call and wait for the tasks to end; the poller cannot be started again."""
        self._closed, self._running = True, False
        tasks = [t.task for t in self._targets.values() if t.task is not None]
        self._targets.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, key: Key, target: _Target[V]) -> None:
        target.task = asyncio.create_task(self._run(key, target), name=f"poll-{key}")

    async def _run(self, key: Key, target: _Target[V]) -> None:
        while True:
            pool = self._failing if target.result is not None and not target.result.ok else self._healthy
            async with pool:
                ok, value, error = await self._call(target)
            self._record(key, target, ok, value, error)
            await self._pause(target)

    @staticmethod
    async def _call(target: _Target[V]) -> tuple[bool, V | None, str | None]:
        deadline = asyncio.timeout(target.timeout)
        try:
            async with deadline:
                return True, await target.fetch(), None
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            if deadline.expired():
                return False, None, f"no answer within {target.timeout:g}s"
            return False, None, _describe(exc)
        except Exception as exc:
            return False, None, _describe(exc)

    def _record(self, key: Key, target: _Target[V], ok: bool, value: V | None, error: str | None) -> None:
        now = self._clock()
        previous = target.result
        if ok:
            result = PollResult(value, succeeded_at=now, observed_at=now, next_delay=target.interval)
        else:
            failures = (previous.failures if previous is not None else 0) + 1
            since = previous.failing_since if previous is not None and previous.failing_since is not None else now
            result = PollResult(previous.value if previous is not None else None,
                                previous.succeeded_at if previous is not None else None, error, failures, since, now,
                                backoff_delay(target.interval, failures, self._max_backoff))
            logger.debug("poll of %s failed (%d in a row): %s", key, failures, error)
        target.result = result
        changed = (previous is None or previous.ok != result.ok
                   or (result.ok and result.value != previous.value))
        if changed:
            try:
                self._on_change(key)
            except Exception:
                logger.exception("on_change(%s) failed", key)

    async def _pause(self, target: _Target[V]) -> None:
        """Wait until the next call is due; an interval changed meanwhile by ``ensure`` is taken into account."""
        loop = asyncio.get_running_loop()
        finished = loop.time()
        while True:
            failures = target.result.failures if target.result is not None else 0
            remaining = finished + backoff_delay(target.interval, failures, self._max_backoff) - loop.time()
            if remaining <= 0:
                return
            target.wake.clear()
            try:
                await asyncio.wait_for(target.wake.wait(), remaining)
            except TimeoutError:
                return


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
