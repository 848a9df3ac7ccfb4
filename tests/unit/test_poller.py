"""Poller: bounded background polling of outside HTTP, read by reconcile passes (short real timings, fake fetchers,
and one real aiohttp server on loopback)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rayop.operator.runtime.poller import Poller, PollResult, backoff_delay

MS = 0.001


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for ``predicate`` (a bound on waiting, not on speed: the tests assert what happened, not how fast)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(MS)


class Fetcher:
    """A fake fetch: counts calls and calls in flight; answers from ``script`` (values, or exceptions to raise),
    then repeats the last entry; ``hang`` makes every call wait forever."""

    def __init__(self, *script: Any, duration: float = 0.0, hang: bool = False) -> None:
        self.script = list(script) or ["ok"]
        self.duration = duration
        self.hang = hang
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0

    async def __call__(self) -> Any:
        answer = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hang:
                await asyncio.Event().wait()
            await asyncio.sleep(self.duration)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        if isinstance(answer, BaseException):
            raise answer
        return answer


class Changes:
    def __init__(self) -> None:
        self.keys: Counter[Any] = Counter()

    def __call__(self, key: Any) -> None:
        self.keys[key] += 1


@pytest.fixture
async def changes() -> Changes:
    return Changes()


@pytest.fixture
async def poller(changes: Changes) -> AsyncIterator[Poller[Any]]:
    p: Poller[Any] = Poller(changes, max_in_flight=4, max_backoff=16 * MS)
    p.start()
    yield p
    await p.close()


def latest(p: Poller[Any], key: Any) -> PollResult[Any]:
    result = p.latest(key)
    assert result is not None
    return result


# --- values and change notifications -------------------------------------------------------------------------


async def test_a_new_target_is_polled_and_its_value_kept(poller: Poller[Any], changes: Changes) -> None:
    poller.ensure(("ns", "job"), Fetcher("RUNNING"), interval=MS, timeout=1.0)
    await until(lambda: changes.keys[("ns", "job")] == 1)
    result = latest(poller, ("ns", "job"))
    assert result.value == "RUNNING" and result.ok and result.error is None and result.succeeded_at is not None


async def test_latest_is_none_before_the_first_call_finishes(poller: Poller[Any]) -> None:
    poller.ensure("k", Fetcher(hang=True), interval=MS, timeout=10.0)
    await asyncio.sleep(10 * MS)
    assert poller.latest("k") is None and poller.latest("unknown") is None


async def test_on_change_is_called_only_when_the_value_or_the_outcome_changes(poller: Poller[Any],
                                                                             changes: Changes) -> None:
    boom = RuntimeError("down")
    fetch = Fetcher("A", "A", "A", "B", "B", boom, boom, "B")
    poller.ensure("k", fetch, interval=MS, timeout=1.0)
    await until(lambda: fetch.calls >= 12)
    # first answer A, A -> B, B -> failure, failure -> B again; repeated answers and repeated failures wake nobody
    assert changes.keys["k"] == 4


async def test_a_failure_keeps_the_last_successful_value(poller: Poller[Any]) -> None:
    fetch = Fetcher("SUCCEEDED", RuntimeError("connection refused"))
    poller.ensure("k", fetch, interval=MS, timeout=1.0)
    await until(lambda: fetch.calls >= 3)
    result = latest(poller, "k")
    assert result.value == "SUCCEEDED" and not result.ok
    assert result.error == "RuntimeError: connection refused"


async def test_a_failing_on_change_does_not_stop_polling() -> None:
    def explode(key: Any) -> None:
        raise RuntimeError("callback")

    p: Poller[Any] = Poller(explode)
    p.start()
    fetch = Fetcher(1, 2, 3)
    p.ensure("k", fetch, interval=MS, timeout=1.0)
    try:
        await until(lambda: fetch.calls >= 4)
        assert latest(p, "k").value == 3
    finally:
        await p.close()


# --- one call per key, timeouts --------------------------------------------------------------------------------


async def test_a_key_never_has_two_calls_in_flight(poller: Poller[Any]) -> None:
    fetch = Fetcher(duration=20 * MS)
    for _ in range(3):
        poller.ensure("k", fetch, interval=MS, timeout=1.0)
    for _ in range(20):
        poller.ensure("k", fetch, interval=MS, timeout=1.0)  # every reconcile pass ensures again
        await asyncio.sleep(2 * MS)
    await until(lambda: fetch.calls >= 3)
    assert fetch.max_in_flight == 1
    assert len(poller) == 1


async def test_a_call_that_exceeds_its_timeout_is_recorded_as_a_failure(poller: Poller[Any],
                                                                        changes: Changes) -> None:
    fetch = Fetcher(hang=True)
    poller.ensure("k", fetch, interval=MS, timeout=20 * MS)
    await until(lambda: changes.keys["k"] == 1)
    result = latest(poller, "k")
    assert not result.ok and result.failures == 1 and result.value is None
    assert result.error == "no answer within 0.02s"
    assert fetch.cancelled == 1


async def test_a_timeout_raised_by_the_fetch_itself_keeps_its_own_text(poller: Poller[Any],
                                                                     changes: Changes) -> None:
    poller.ensure("k", Fetcher(TimeoutError("dashboard read timeout")), interval=MS, timeout=1.0)
    await until(lambda: changes.keys["k"] == 1)
    assert latest(poller, "k").error == "TimeoutError: dashboard read timeout"


# --- backoff --------------------------------------------------------------------------------------------------


def test_backoff_doubles_per_failure_and_stops_at_the_cap() -> None:
    assert [backoff_delay(1.0, n, 10.0) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_is_never_shorter_than_the_interval() -> None:
    assert backoff_delay(30.0, 1, 10.0) == 30.0


async def test_a_failing_target_backs_off_longer_after_each_failure(poller: Poller[Any]) -> None:
    seen: list[PollResult[Any] | None] = []
    fetch = Fetcher(RuntimeError("down"))

    async def recording() -> Any:
        seen.append(poller.latest("k"))
        return await fetch()

    poller.ensure("k", recording, interval=MS, timeout=1.0)
    await until(lambda: fetch.calls >= 7)
    delays = [r.next_delay for r in seen[1:7] if r is not None]
    assert delays == [2 * MS, 4 * MS, 8 * MS, 16 * MS, 16 * MS, 16 * MS]


async def test_a_success_resets_the_backoff_and_the_failure_count(poller: Poller[Any]) -> None:
    boom = RuntimeError("down")
    fetch = Fetcher(boom, boom, boom, "up")
    poller.ensure("k", fetch, interval=MS, timeout=1.0)
    await until(lambda: fetch.calls >= 4 and poller.latest("k") is not None and latest(poller, "k").ok)
    result = latest(poller, "k")
    assert result.failures == 0 and result.error is None and result.next_delay == MS


# --- the streak's first failure -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
async def clocked(changes: Changes) -> AsyncIterator[Poller[Any]]:
    p: Poller[Any] = Poller(changes, clock=Clock())
    p.start()
    yield p
    await p.close()


async def test_first_failure_time_is_kept_across_a_failure_streak(clocked: Poller[Any]) -> None:
    clocked.ensure("k", Fetcher("ok", RuntimeError("down")), interval=MS, timeout=1.0)
    await until(lambda: clocked.latest("k") is not None and latest(clocked, "k").failures >= 3)
    result = latest(clocked, "k")
    assert result.succeeded_at == 1001.0 and result.failing_since == 1002.0
    assert result.observed_at >= 1004.0


async def test_a_success_clears_the_first_failure_time(clocked: Poller[Any]) -> None:
    boom = RuntimeError("down")
    fetch = Fetcher(boom, boom, "ok")
    clocked.ensure("k", fetch, interval=MS, timeout=1.0)
    await until(lambda: fetch.calls >= 3 and latest(clocked, "k").ok)
    result = latest(clocked, "k")
    assert result.failing_since is None and result.succeeded_at == 1003.0


# --- registration and lifecycle -------------------------------------------------------------------------------


async def test_ensure_again_replaces_the_fetch_of_the_target(poller: Poller[Any]) -> None:
    poller.ensure("k", Fetcher("old"), interval=MS, timeout=1.0)
    await until(lambda: poller.latest("k") is not None)
    poller.ensure("k", Fetcher("new"), interval=MS, timeout=1.0)
    await until(lambda: latest(poller, "k").value == "new")


async def test_a_shorter_interval_applies_without_waiting_for_the_old_one(poller: Poller[Any]) -> None:
    fetch = Fetcher()
    poller.ensure("k", fetch, interval=3600.0, timeout=1.0)
    await until(lambda: fetch.calls == 1)
    poller.ensure("k", fetch, interval=MS, timeout=1.0)
    await until(lambda: fetch.calls >= 3)


async def test_forget_stops_polling_and_drops_the_result(poller: Poller[Any]) -> None:
    fetch = Fetcher()
    poller.ensure("k", fetch, interval=MS, timeout=1.0)
    await until(lambda: fetch.calls >= 2)
    poller.forget("k")
    await asyncio.sleep(0)
    calls = fetch.calls
    await asyncio.sleep(30 * MS)
    assert fetch.calls == calls
    assert poller.latest("k") is None and "k" not in poller


async def test_forget_cancels_a_call_in_flight(poller: Poller[Any]) -> None:
    fetch = Fetcher(hang=True)
    poller.ensure("k", fetch, interval=MS, timeout=10.0)
    await until(lambda: fetch.in_flight == 1)
    poller.forget("k")
    await until(lambda: fetch.cancelled == 1)


async def test_targets_ensured_before_start_are_polled_once_started(changes: Changes) -> None:
    p: Poller[Any] = Poller(changes)
    fetch = Fetcher()
    p.ensure("k", fetch, interval=MS, timeout=1.0)
    await asyncio.sleep(10 * MS)
    assert fetch.calls == 0
    p.start()
    try:
        await until(lambda: fetch.calls >= 1)
    finally:
        await p.close()


async def test_close_cancels_calls_in_flight_and_ignores_later_targets(changes: Changes) -> None:
    p: Poller[Any] = Poller(changes)
    p.start()
    fetch = Fetcher(hang=True)
    p.ensure("k", fetch, interval=MS, timeout=10.0)
    await until(lambda: fetch.in_flight == 1)
    await p.close()
    assert fetch.cancelled == 1
    later = Fetcher()
    p.ensure("late", later, interval=MS, timeout=1.0)
    await asyncio.sleep(10 * MS)
    assert later.calls == 0 and len(p) == 0


# --- the global bound -----------------------------------------------------------------------------------------


class InFlight:
    """Counts calls in flight across several fake targets."""

    def __init__(self) -> None:
        self.now = 0
        self.max = 0

    def wrap(self, fetch: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def counted() -> Any:
            self.now += 1
            self.max = max(self.max, self.now)
            try:
                return await fetch()
            finally:
                self.now -= 1
        return counted


async def test_calls_in_flight_across_targets_never_exceed_the_cap(changes: Changes) -> None:
    p: Poller[Any] = Poller(changes, max_in_flight=3)
    p.start()
    counter = InFlight()
    fetchers = [Fetcher(duration=10 * MS) for _ in range(12)]
    try:
        for i, f in enumerate(fetchers):
            p.ensure(i, counter.wrap(f), interval=MS, timeout=1.0)
        await until(lambda: all(f.calls >= 2 for f in fetchers))
    finally:
        await p.close()
    assert counter.max == 3


async def test_failing_targets_share_a_smaller_pool_and_leave_the_healthy_one_free(changes: Changes) -> None:
    p: Poller[Any] = Poller(changes, max_in_flight=2, max_failing_in_flight=1)
    p.start()
    failing = InFlight()
    dead = [Fetcher(hang=True) for _ in range(6)]
    alive = Fetcher()
    try:
        for i, f in enumerate(dead):
            p.ensure(("dead", i), failing.wrap(f), interval=MS, timeout=20 * MS)
        await until(lambda: all(p.latest(("dead", i)) is not None for i in range(6)))
        failing.max = failing.now  # from here on every dead head is a known failure
        p.ensure("alive", alive, interval=MS, timeout=1.0)
        await until(lambda: alive.calls >= 20 and all(latest(p, ("dead", i)).failures >= 2 for i in range(6)))
    finally:
        await p.close()
    assert failing.max <= 1  # not the 2 healthy slots: known failures only ever hold their own one


# --- a real HTTP server that never answers --------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A loopback server: /hang never answers (until teardown), /status answers at once."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=503)

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"status": "RUNNING"})

    app = web.Application()
    app.router.add_get("/hang", hang)
    app.router.add_get("/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        release.set()
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def getter(session: aiohttp.ClientSession, url: str) -> Callable[[], Awaitable[Any]]:
    async def fetch() -> Any:
        async with session.get(url) as response:
            response.raise_for_status()
            return (await response.json())["status"]
    return fetch


async def test_heads_that_never_answer_time_out_while_another_head_is_still_polled(
        server: str, session: aiohttp.ClientSession, changes: Changes) -> None:
    p: Poller[Any] = Poller(changes, max_in_flight=2, max_failing_in_flight=1, max_backoff=0.2)
    p.start()
    hung = InFlight()
    answered = Fetcher()
    status = getter(session, f"{server}/status")

    async def counted_status() -> Any:
        await answered()
        return await status()

    try:
        for i in range(5):
            p.ensure(("dead", i), hung.wrap(getter(session, f"{server}/hang")), interval=0.01, timeout=0.1)
        p.ensure(("ns", "alive"), counted_status, interval=0.01, timeout=1.0)
        await until(lambda: all((r := p.latest(("dead", i))) is not None and r.failures >= 2 for i in range(5))
                    and answered.calls >= 10, timeout=20.0)
        dead = [latest(p, ("dead", i)) for i in range(5)]
        alive = latest(p, ("ns", "alive"))
    finally:
        await p.close()
    assert {r.error for r in dead} == {"no answer within 0.1s"}
    assert alive.ok and alive.value == "RUNNING"
    assert hung.max <= 3  # two healthy slots for first calls plus one slot for known failures


