"""One-shot outside calls (submit a Ray job, stop it, put a Serve config) run beside the passes, never inside one.

A pass asks for a call with :meth:`OneShot.start` (at most one in flight per key and purpose), returns, and reads
the outcome in a later pass, which the finished call wakes. Outcomes live in memory only: a restarted operator
simply asks again, so every call made this way must be idempotent (a fixed submission id makes a second submit an
"already exists").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("rayop.runtime.oneshot")

Key = tuple[str, str]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: Any = None
    error: str | None = None


class OneShot:
    """Background calls keyed by (object key, purpose), bounded by ``max_in_flight`` and ``timeout``."""

    def __init__(self, wake: Callable[[Key], None], *, max_in_flight: int = 16, timeout: float = 10.0) -> None:
        self._wake = wake
        self._slots = asyncio.Semaphore(max_in_flight)
        self._timeout = timeout
        self._tasks: dict[tuple[Key, str], asyncio.Task[None]] = {}
        self._outcomes: dict[tuple[Key, str], Outcome] = {}

    def start(self, key: Key, purpose: str, call: Callable[[], Awaitable[Any]]) -> None:
        """Run ``call`` unless one for ``(key, purpose)`` is running or has an outcome not yet cleared."""
        slot = (key, purpose)
        if slot in self._tasks or slot in self._outcomes:
            return
        self._tasks[slot] = asyncio.create_task(self._run(slot, call), name=f"oneshot-{purpose}-{key[0]}/{key[1]}")

    async def _run(self, slot: tuple[Key, str], call: Callable[[], Awaitable[Any]]) -> None:
        try:
            async with self._slots:
                value = await asyncio.wait_for(call(), self._timeout)
            outcome = Outcome(True, value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.info("%s of %s/%s failed: %s", slot[1], *slot[0], exc)
            outcome = Outcome(False, error=str(exc) or type(exc).__name__)
        self._outcomes[slot] = outcome
        self._tasks.pop(slot, None)
        self._wake(slot[0])

    def outcome(self, key: Key, purpose: str) -> Outcome | None:
        return self._outcomes.get((key, purpose))

    def running(self, key: Key, purpose: str) -> bool:
        return (key, purpose) in self._tasks

    def clear(self, key: Key, purpose: str | None = None) -> None:
        """Forget outcomes (of one purpose, or all of ``key``) so the call can be made again."""
        for slot in [s for s in self._outcomes if s[0] == key and (purpose is None or s[1] == purpose)]:
            del self._outcomes[slot]

    def forget(self, key: Key) -> None:
        for slot in [s for s in self._tasks if s[0] == key]:
            self._tasks.pop(slot).cancel()
        self.clear(key)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
