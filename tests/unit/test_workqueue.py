"""WorkQueue: level-triggered per-object workers on asyncio (short real timings)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from rayop.operator.runtime.workqueue import WorkQueue

DEBOUNCE = 0.01


class Recorder:
    """A reconcile function that records its calls and can be slowed down or made to fail."""

    def __init__(self, duration: float = 0.0, result: float | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.duration = duration
        self.result = result
        self.running = 0
        self.max_running = 0
        self.per_key_running: dict[Any, int] = {}
        self.per_key_max: dict[Any, int] = {}
        self.fail: Callable[[dict[str, Any]], bool] = lambda body: False

    async def __call__(self, body: dict[str, Any]) -> float | None:
        key = body.get("key")
        self.calls.append(body)
        self.running += 1
        self.per_key_running[key] = self.per_key_running.get(key, 0) + 1
        self.max_running = max(self.max_running, self.running)
        self.per_key_max[key] = max(self.per_key_max.get(key, 0), self.per_key_running[key])
        try:
            await asyncio.sleep(self.duration)
            if self.fail(body):
                raise RuntimeError("boom")
            return self.result
        finally:
            self.running -= 1
            self.per_key_running[key] -= 1

    def count(self, key: Any = None) -> int:
        return sum(1 for c in self.calls if key is None or c.get("key") == key)


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., WorkQueue]]:
    queues: list[WorkQueue] = []

    def factory(rec: Recorder, *, concurrency: int = 10, resync: float = 60.0) -> WorkQueue:
        q = WorkQueue(rec, concurrency=concurrency, resync=resync, debounce=DEBOUNCE)
        queues.append(q)
        return q

    yield factory
    for q in queues:
        await q.close()


async def settle(seconds: float = 0.1) -> None:
    await asyncio.sleep(seconds)


async def test_upsert_runs_a_pass_with_the_body(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec)
    q.upsert(("ns", "a"), {"key": "a", "v": 1})
    await settle()
    assert rec.calls == [{"key": "a", "v": 1}]
    assert len(q) == 1


async def test_burst_of_events_coalesces_into_one_pass_with_the_latest_body(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec)
    for v in range(20):
        q.upsert(("ns", "a"), {"key": "a", "v": v})
        q.wake(("ns", "a"))
    await settle()
    assert rec.calls == [{"key": "a", "v": 19}]


async def test_wake_of_unknown_key_is_ignored(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec)
    q.wake(("ns", "nobody"))
    await settle()
    assert rec.calls == [] and len(q) == 0


async def test_wake_runs_another_pass_with_the_remembered_body(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec)
    q.upsert(("ns", "a"), {"key": "a"})
    await settle()
    q.wake(("ns", "a"))
    await settle()
    assert rec.count() == 2


async def test_events_during_a_pass_cause_exactly_one_more_pass(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder(duration=0.1)
    q = make(rec)
    q.upsert(("ns", "a"), {"key": "a", "v": 0})
    await asyncio.sleep(0.05)  # first pass is running
    for v in range(1, 6):
        q.upsert(("ns", "a"), {"key": "a", "v": v})
    await settle(0.35)
    assert [c["v"] for c in rec.calls] == [0, 5]


async def test_one_pass_at_a_time_per_key(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder(duration=0.03)
    q = make(rec)
    q.upsert(("ns", "a"), {"key": "a"})
    for _ in range(10):
        await asyncio.sleep(0.01)
        q.wake(("ns", "a"))
    await settle(0.2)
    assert rec.per_key_max["a"] == 1
    assert rec.count() >= 2


async def test_different_keys_run_concurrently(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder(duration=0.1)
    q = make(rec, concurrency=10)
    for k in "abc":
        q.upsert(("ns", k), {"key": k})
    await asyncio.sleep(0.07)
    assert rec.running == 3
    await settle(0.1)


async def test_concurrency_bounds_passes_across_keys(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder(duration=0.05)
    q = make(rec, concurrency=2)
    for k in "abcdef":
        q.upsert(("ns", k), {"key": k})
    await settle(0.3)
    assert rec.max_running == 2
    assert sorted(c["key"] for c in rec.calls) == list("abcdef")


async def test_resync_reruns_an_idle_object(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec, resync=0.05)
    q.upsert(("ns", "a"), {"key": "a"})
    await settle(0.2)
    assert rec.count() >= 3


async def test_no_pass_without_events_before_the_resync_period(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec, resync=10.0)
    q.upsert(("ns", "a"), {"key": "a"})
    await settle(0.2)
    assert rec.count() == 1


async def test_returned_delay_requeues_the_object(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder(result=0.03)
    q = make(rec, resync=10.0)
    q.upsert(("ns", "a"), {"key": "a"})
    await settle(0.2)
    assert rec.count() >= 3


async def test_failing_pass_is_retried_and_does_not_kill_the_worker(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    rec.fail = lambda body: body.get("v") == 0
    q = make(rec, resync=10.0)
    q.upsert(("ns", "a"), {"key": "a", "v": 0})
    await settle()
    q.upsert(("ns", "a"), {"key": "a", "v": 1})
    await settle()
    assert [c["v"] for c in rec.calls] == [0, 1]


async def test_failure_of_one_key_does_not_affect_others(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    rec.fail = lambda body: body["key"] == "bad"
    q = make(rec)
    q.upsert(("ns", "bad"), {"key": "bad"})
    q.upsert(("ns", "good"), {"key": "good"})
    await settle()
    assert rec.count("good") == 1


async def test_remove_stops_the_worker(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec, resync=0.03)
    q.upsert(("ns", "a"), {"key": "a"})
    await settle(0.05)
    await q.remove(("ns", "a"))
    n = rec.count()
    await settle(0.1)
    assert rec.count() == n and len(q) == 0
    q.wake(("ns", "a"))
    await settle(0.05)
    assert rec.count() == n


async def test_remove_cancels_a_running_pass(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder(duration=1.0)
    q = make(rec)
    q.upsert(("ns", "a"), {"key": "a"})
    await asyncio.sleep(0.05)
    assert rec.running == 1
    await asyncio.wait_for(q.remove(("ns", "a")), timeout=0.5)
    assert rec.running == 0


async def test_cancelled_pass_releases_its_concurrency_slot(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder(duration=1.0)
    q = make(rec, concurrency=1)
    q.upsert(("ns", "slow"), {"key": "slow"})
    await asyncio.sleep(0.05)
    q.upsert(("ns", "next"), {"key": "next"})
    await q.remove(("ns", "slow"))
    rec.duration = 0.0
    await settle()
    assert rec.count("next") == 1


async def test_remove_of_unknown_key_is_harmless(make: Callable[..., WorkQueue]) -> None:
    await make(Recorder()).remove(("ns", "nobody"))


async def test_upsert_after_remove_starts_a_fresh_worker(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec)
    q.upsert(("ns", "a"), {"key": "a", "v": 1})
    await settle(0.05)
    await q.remove(("ns", "a"))
    q.upsert(("ns", "a"), {"key": "a", "v": 2})
    await settle(0.05)
    assert [c["v"] for c in rec.calls] == [1, 2]


async def test_close_stops_every_worker(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder(duration=1.0)
    q = make(rec)
    for k in "abc":
        q.upsert(("ns", k), {"key": k})
    await asyncio.sleep(0.05)
    await asyncio.wait_for(q.close(), timeout=0.5)
    assert len(q) == 0 and rec.running == 0


async def test_upsert_without_wake_only_replaces_the_body(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec)
    q.upsert(("ns", "a"), {"key": "a", "v": 0})
    await settle()
    q.upsert(("ns", "a"), {"key": "a", "v": 1}, wake=False)
    await settle()
    assert [c["v"] for c in rec.calls] == [0]
    assert q.body(("ns", "a")) == {"key": "a", "v": 1}
    q.wake(("ns", "a"))
    await settle()
    assert [c["v"] for c in rec.calls] == [0, 1]


async def test_a_new_object_is_reconciled_even_without_wake(make: Callable[..., WorkQueue]) -> None:
    rec = Recorder()
    q = make(rec)
    q.upsert(("ns", "a"), {"key": "a"}, wake=False)
    await settle()
    assert rec.count() == 1


async def test_child_events_wait_for_the_child_debounce_and_coalesce() -> None:
    rec = Recorder()
    q = WorkQueue(rec, concurrency=10, resync=60.0, debounce=DEBOUNCE, child_debounce=0.2)
    try:
        q.upsert(("ns", "a"), {"key": "a"})
        await settle(0.05)
        assert rec.count() == 1  # the object's own change: short debounce
        for _ in range(5):
            q.wake(("ns", "a"))
            await asyncio.sleep(0.02)
        assert rec.count() == 1  # still inside the child debounce
        await settle(0.3)
        assert rec.count() == 2
    finally:
        await q.close()
