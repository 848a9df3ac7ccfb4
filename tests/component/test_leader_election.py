"""Two rayop processes campaigning for one Lease on the real API server: one leads, the other takes over only when
the leader's lease has expired (crash) or been released (clean shutdown), and never while it is live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rayop.kube.client import Conflict, KubeClient
from rayop.kube.config import from_kubeconfig
from rayop.kube.leader import JITTER_FACTOR, LEASE_API, LEASE_NAME, LeaderElector, LeaseRecord

LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 3, 2.0, 0.5
#: A standby retries within this after a release; kept below LEASE_DURATION so it proves it did not wait for expiry.
NEXT_RETRY = RETRY_PERIOD * (1 + JITTER_FACTOR) + 1.0


@pytest.fixture()
async def clients(control_plane: Any) -> AsyncIterator[list[KubeClient]]:
    """One client per candidate, as two processes would have; a third for the test's own reads."""
    made = [KubeClient(from_kubeconfig(control_plane.kubeconfig)) for _ in range(3)]
    yield made
    for client in made:
        await client.close()


class Race:
    """Two candidates started together; ``leader``/``standby`` are known once one of them has acquired."""

    def __init__(self, clients: list[KubeClient], namespace: str) -> None:
        self.electors = [LeaderElector(c, namespace=namespace, name=LEASE_NAME, identity=f"rayop-{i}",
                                       lease_duration=LEASE_DURATION, renew_deadline=RENEW_DEADLINE,
                                       retry_period=RETRY_PERIOD) for i, c in enumerate(clients[:2])]
        self.acquiring = [asyncio.create_task(e.acquire()) for e in self.electors]
        self.tasks: list[asyncio.Task[None]] = list(self.acquiring)
        self.both_led = False

    async def first_leader(self) -> tuple[LeaderElector, LeaderElector, asyncio.Task[None], asyncio.Task[None]]:
        """(leader, standby, leader's hold task, standby's acquire task)."""
        done, _ = await asyncio.wait(self.acquiring, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1, "exactly one candidate acquires the lease"
        i = self.acquiring.index(done.pop())
        hold = asyncio.create_task(self.electors[i].hold())
        self.tasks += [hold, asyncio.create_task(self._watch_for_two_leaders())]
        return self.electors[i], self.electors[1 - i], hold, self.acquiring[1 - i]

    async def _watch_for_two_leaders(self) -> None:
        while True:
            self.both_led |= all(e.is_leader for e in self.electors)
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture()
async def race(clients: list[KubeClient], private_namespace: str) -> AsyncIterator[Race]:
    r = Race(clients, private_namespace)
    yield r
    await r.stop()


async def read_lease(client: KubeClient, namespace: str) -> LeaseRecord:
    return LeaseRecord.from_lease(await client.get(LEASE_API, "leases", LEASE_NAME, namespace))


async def take_over(client: KubeClient, namespace: str, holder: str) -> None:
    """Write another holder into the Lease, as a rival elector would, re-reading if a renewal got in between."""
    while True:
        lease = await client.get(LEASE_API, "leases", LEASE_NAME, namespace)
        lease["spec"]["holderIdentity"] = holder
        try:
            await client.replace(lease)
            return
        except Conflict:
            continue


async def test_of_two_candidates_exactly_one_leads_while_it_keeps_renewing(
        race: Race, clients: list[KubeClient], private_namespace: str) -> None:
    leader, standby, _, standby_acquire = await race.first_leader()
    await asyncio.sleep(LEASE_DURATION * 2)
    assert not standby_acquire.done()
    assert (leader.is_leader, standby.is_leader) == (True, False)
    assert standby.holder == leader.identity
    lease = await read_lease(clients[2], private_namespace)
    assert (lease.holder, lease.lease_duration_seconds, lease.lease_transitions) == (leader.identity, 3, 0)
    assert not race.both_led


async def test_a_crashed_leaders_lease_passes_to_the_standby_only_after_it_expired(
        race: Race, clients: list[KubeClient], private_namespace: str) -> None:
    leader, standby, hold, standby_acquire = await race.first_leader()
    await asyncio.sleep(1)
    hold.cancel()  # the leader stops renewing without releasing, as a killed process would
    cancelled_at = datetime.now(UTC)
    await asyncio.sleep(0.2)  # let a renewal already on the wire land before reading the last renewTime
    last_renew = (await read_lease(clients[2], private_namespace)).renew_time
    assert last_renew is not None
    await asyncio.wait({standby_acquire}, timeout=LEASE_DURATION + NEXT_RETRY + 2)
    led_at = datetime.now(UTC)
    assert standby_acquire.done(), "the standby took over"
    assert led_at >= last_renew + timedelta(seconds=LEASE_DURATION), "not before the lease expired"
    assert led_at - cancelled_at < timedelta(seconds=LEASE_DURATION + NEXT_RETRY + 1)
    lease = await read_lease(clients[2], private_namespace)
    assert (lease.holder, lease.lease_transitions) == (standby.identity, 1)
    assert not leader.is_leader, "the crashed leader's own view lapsed with its renew deadline"
    assert not race.both_led


async def test_a_released_lease_passes_to_the_standby_at_its_next_retry(
        race: Race, clients: list[KubeClient], private_namespace: str) -> None:
    leader, standby, hold, standby_acquire = await race.first_leader()
    await asyncio.sleep(1)
    hold.cancel()
    await leader.release()
    released_at = time.monotonic()
    assert (leader.is_leader, leader.holder) == (False, "")
    await asyncio.wait({standby_acquire}, timeout=NEXT_RETRY)
    assert standby_acquire.done(), f"the standby took over within {NEXT_RETRY:.1f} s of the release"
    assert time.monotonic() - released_at < LEASE_DURATION
    lease = await read_lease(clients[2], private_namespace)
    assert (lease.holder, lease.lease_transitions) == (standby.identity, 1)
    assert not race.both_led


async def test_a_leader_whose_lease_another_holder_took_stops_holding(
        clients: list[KubeClient], private_namespace: str) -> None:
    elector = LeaderElector(clients[0], namespace=private_namespace, name=LEASE_NAME, identity="rayop-0",
                            lease_duration=LEASE_DURATION, renew_deadline=RENEW_DEADLINE, retry_period=RETRY_PERIOD)
    await asyncio.wait_for(elector.acquire(), timeout=10)
    hold = asyncio.create_task(elector.hold())
    try:
        await take_over(clients[2], private_namespace, "kuberay-operator-6b8f_other")
        await asyncio.wait({hold}, timeout=RENEW_DEADLINE + 1)
        assert hold.done(), "hold() returned"
    finally:
        hold.cancel()
    assert (elector.is_leader, elector.holder) == (False, "kuberay-operator-6b8f_other")
