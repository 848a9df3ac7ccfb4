"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's leaderelection semantics.

KubeRay elects a leader through controller-runtime (Lease ``ray-operator-leader``), so a second replica, or the old
pod of a rolling update, stands by instead of reconciling beside the leader. rayop does the same, on the same Lease
fields, so ``kubectl get lease`` reads the same for both. The rules, as client-go's ``tryAcquireOrRenew``:

* A lease is valid for ``leaseDurationSeconds`` counted from when *this* process last saw its record change, on its
  own monotonic clock. The remote ``renewTime`` is never compared with the local clock, so skew between nodes
  cannot make a live lease look expired (or an expired one live).
* The holder renews keeping ``acquireTime`` and ``leaseTransitions``; a taker of an expired or released (empty
  ``holderIdentity``) lease sets both anew and increments ``leaseTransitions``.
* Every write is a PUT with the resourceVersion read, so of two candidates racing for one lease one gets 409 and
  re-reads: never two leaders.
* The leader gives up after ``renew_deadline`` without a successful renewal, before anyone else may take over
  (``lease_duration`` after their last observation), so the two terms never overlap.

:func:`decide` is the pure rule; :class:`LeaderElector` does the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import aiohttp

from .client import JSON, ApiError, Conflict, KubeClient, NotFound

logger = logging.getLogger("rayop.kube.leader")

LEASE_NAME = "ray-operator-leader"  #: KubeRay's LeaderElectionID.
LEASE_API = "coordination.k8s.io/v1"
JITTER_FACTOR = 1.2  #: client-go's: standbys retry after retry_period * (1 + rand * 1.2).
_MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_microtime(t: datetime) -> str:
    """metav1.MicroTime: RFC 3339 in UTC with six fractional digits, ``2026-12-01T10:00:00.000000Z``."""
    return t.astimezone(UTC).strftime(_MICROTIME)


def parse_microtime(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def default_identity() -> str:
    """controller-runtime's identity: hostname (the pod name) plus a uuid, unique per process even on restart."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass(frozen=True)
class LeaseRecord:
    """The election fields of a Lease spec (client-go's LeaderElectionRecord); ``holder`` is "" when released."""
    holder: str = ""
    lease_duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    lease_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: JSON) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(spec.get("holderIdentity") or "", int(spec.get("leaseDurationSeconds") or 0),
                   parse_microtime(spec.get("acquireTime")), parse_microtime(spec.get("renewTime")),
                   int(spec.get("leaseTransitions") or 0))

    def to_spec(self) -> JSON:
        times = {"acquireTime": self.acquire_time, "renewTime": self.renew_time}
        return {"holderIdentity": self.holder, "leaseDurationSeconds": self.lease_duration_seconds,
                "leaseTransitions": self.lease_transitions,
                **{key: format_microtime(t) for key, t in times.items() if t is not None}}


@dataclass(frozen=True)
class Observation:
    """A record as this process saw it, and when (its monotonic clock) it first saw that exact record."""
    record: LeaseRecord
    at: float


@dataclass(frozen=True)
class Create:  # no Lease yet: create it, holding it
    record: LeaseRecord


@dataclass(frozen=True)
class Acquire:  # take over an expired or released lease
    record: LeaseRecord


@dataclass(frozen=True)
class Renew:  # the lease is ours: extend it
    record: LeaseRecord


@dataclass(frozen=True)
class Standby:
    """Someone else holds a live lease; by our clock it cannot expire sooner than ``expires_in`` seconds."""
    holder: str
    expires_in: float


Action = Create | Acquire | Renew | Standby


@dataclass(frozen=True)
class Decision:
    action: Action
    observation: Observation | None  #: to pass back as ``previous`` next time


def decide(lease: LeaseRecord | None, previous: Observation | None, *, now: float, wall: datetime,
           identity: str, lease_duration: int) -> Decision:
    """What to do about the Lease just read (None: it does not exist).

    ``now`` is the local monotonic clock, used for expiry; ``wall`` only stamps acquireTime/renewTime.
    """
    mine = LeaseRecord(identity, lease_duration, wall, wall, 0)
    if lease is None:
        return Decision(Create(mine), None)
    observation = previous if previous is not None and previous.record == lease else Observation(lease, now)
    if lease.holder == identity:
        kept = replace(mine, acquire_time=lease.acquire_time or wall, lease_transitions=lease.lease_transitions)
        return Decision(Renew(kept), observation)
    expires_in = observation.at + lease.lease_duration_seconds - now
    if lease.holder and expires_in > 0:
        return Decision(Standby(lease.holder, expires_in), observation)
    return Decision(Acquire(replace(mine, lease_transitions=lease.lease_transitions + 1)), observation)


def released(record: LeaseRecord, wall: datetime) -> LeaseRecord:
    """client-go's release: no holder, a 1 s duration, transitions kept, so a standby takes over at once."""
    return LeaseRecord("", 1, wall, wall, record.lease_transitions)


def lease_object(namespace: str, name: str, record: LeaseRecord, base: JSON | None = None) -> JSON:
    """The Lease to write: ``base`` (as read, with its resourceVersion) with the election fields replaced."""
    if base is None:
        return {"apiVersion": LEASE_API, "kind": "Lease", "metadata": {"name": name, "namespace": namespace},
                "spec": record.to_spec()}
    return {**base, "apiVersion": LEASE_API, "kind": "Lease",
            "spec": {**(base.get("spec") or {}), **record.to_spec()}}


class LeaderElector:
    """Campaign for and hold one Lease: ``await acquire()``, act while ``await hold()`` runs, ``release()`` on exit.

    ``hold()`` returning means leadership is lost: stop acting at once (the process should exit, as
    controller-runtime's manager does), because another process may lead ``lease_duration`` later.
    """

    def __init__(self, client: KubeClient, *, namespace: str, name: str, identity: str,
                 lease_duration: float = 15, renew_deadline: float = 10, retry_period: float = 2) -> None:
        if not identity:
            raise ValueError("leader election identity must not be empty")
        if int(lease_duration) < 1 or renew_deadline <= 0 or retry_period <= 0:
            raise ValueError("lease_duration must be at least 1 s, renew_deadline and retry_period positive")
        if int(lease_duration) <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError(f"renew_deadline must be greater than retry_period * {JITTER_FACTOR}")
        self._client = client
        self.namespace, self.name, self._identity = namespace, name, identity
        self.lease_duration = int(lease_duration)  # the Lease holds whole seconds (client-go truncates too)
        self.renew_deadline, self.retry_period = renew_deadline, retry_period
        self._observation: Observation | None = None
        self._lease: JSON | None = None  # last Lease read or written, with its resourceVersion
        self._leading = False
        self._renewed_at = 0.0  # monotonic time just before our last successful write
        self._expires_in: float | None = None  # from the last Standby decision

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def holder(self) -> str | None:
        """The holder in the last Lease observed ("" released, None not seen yet)."""
        return None if self._observation is None else self._observation.record.holder

    @property
    def is_leader(self) -> bool:
        """True only while a renewal succeeded within renew_deadline, even if nobody runs :meth:`hold`."""
        return self._leading and time.monotonic() - self._renewed_at < self.renew_deadline

    async def acquire(self) -> None:
        """Block until this process holds the lease."""
        logger.info("attempting to acquire leader lease %s/%s as %s", self.namespace, self.name, self.identity)
        while not await self._try():
            delay = self.retry_period * (1 + random.random() * JITTER_FACTOR)
            if self._expires_in is not None:
                delay = min(delay, self._expires_in)
            await asyncio.sleep(delay)
        logger.info("acquired leader lease %s/%s as %s", self.namespace, self.name, self.identity)

    async def hold(self) -> None:
        """Renew every retry_period; return when leadership is lost (no renewal within renew_deadline, or another
        process holds the lease)."""
        while self._leading:
            await asyncio.sleep(self.retry_period)
            if not await self._renew_within_deadline():
                self._leading = False
                logger.warning("lost leader lease %s/%s (holder now %r)", self.namespace, self.name, self.holder)

    async def release(self) -> None:
        """On clean shutdown, after acting has stopped: clear holderIdentity so a standby takes over at its next
        retry instead of a full lease duration later. Best effort, bounded by renew_deadline."""
        self._leading = False
        if self.holder != self.identity:
            return
        try:
            async with asyncio.timeout(self.renew_deadline):
                while True:
                    lease = await self._client.get(LEASE_API, "leases", self.name, self.namespace)
                    record = LeaseRecord.from_lease(lease)
                    if record.holder != self.identity:
                        return
                    body = lease_object(self.namespace, self.name, released(record, datetime.now(UTC)), lease)
                    try:
                        self._remember(await self._client.replace(body), time.monotonic())
                    except Conflict:
                        continue  # a renewal raced with us: re-read
                    logger.info("released leader lease %s/%s", self.namespace, self.name)
                    return
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.warning("could not release leader lease %s/%s: %s", self.namespace, self.name, exc)

    # -- internals ------------------------------------------------------------------------------------------------
    async def _renew_within_deadline(self) -> bool:
        while True:
            remaining = self._renewed_at + self.renew_deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    if await self._try():
                        return True
            except TimeoutError:
                return False
            if self.holder not in ("", self.identity):
                return False
            await asyncio.sleep(min(self.retry_period, max(0.0, remaining)))

    async def _try(self) -> bool:
        """One tryAcquireOrRenew: whether this process leads afterwards. API and network errors count as no."""
        self._expires_in = None
        try:
            if self._leading and self._lease is not None and await self._act(self._lease):
                return True  # fast path: renew on the resourceVersion we wrote last
            try:
                lease: JSON | None = await self._client.get(LEASE_API, "leases", self.name, self.namespace)
            except NotFound:
                lease = None
            return await self._act(lease)
        except (ApiError, aiohttp.ClientError, OSError) as exc:
            logger.warning("leader lease %s/%s: %s", self.namespace, self.name, exc)
            return False

    async def _act(self, lease: JSON | None) -> bool:
        now = time.monotonic()
        record = None if lease is None else LeaseRecord.from_lease(lease)
        decision = decide(record, self._observation, now=now, wall=datetime.now(UTC), identity=self.identity,
                          lease_duration=self.lease_duration)
        self._observation = decision.observation
        action = decision.action
        if isinstance(action, Standby):
            self._leading, self._expires_in = False, action.expires_in
            return False
        body = lease_object(self.namespace, self.name, action.record, lease)
        try:
            written = await (self._client.create(body) if isinstance(action, Create)
                             else self._client.replace(body))
        except Conflict:
            self._lease = None  # someone else wrote (or created) it first: re-read before trying again
            return False
        self._remember(written, now)
        self._leading, self._renewed_at = True, now
        return True

    def _remember(self, written: JSON, now: float) -> None:
        self._lease = written
        self._observation = Observation(LeaseRecord.from_lease(written), now)
