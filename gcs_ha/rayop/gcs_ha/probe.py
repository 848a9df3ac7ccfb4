"""The Redis reachability check (run by the runtime's Poller) and the ``RedisReachable`` condition it yields.

A head whose Redis is unreachable, or whose password is wrong, or whose Secret is missing, crash-loops with a GCS
log line nobody reads. The operator checks the same endpoint with the same credentials the head uses, outside any
reconcile pass, and reports the cause on the RayCluster. A successful probe also records the storage namespace in
the registry (:mod:`rayop.gcs_ha.registry`), which is how rayop remembers what it gave out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rayop.api.conditions import condition

from .address import RedisConfigError, RedisSettings, RedisTarget
from .credentials import ObjectReader, resolve
from .registry import Registration
from .store import RedisFailure, Store

REDIS_REACHABLE = "RedisReachable"


@dataclass(frozen=True)
class ProbeOutcome:
    """Small and comparable: the poller wakes the cluster only when it changes."""

    ok: bool
    reason: str
    message: str


async def probe(settings: RedisSettings, registration: Registration, reader: ObjectReader,
                store_for: Callable[[RedisTarget], Store],
                reached: Callable[[RedisTarget], None] | None = None) -> ProbeOutcome:
    """Resolve the credentials, ping Redis, register the namespace. Failures are outcomes, not exceptions.
    ``reached`` learns every Redis that answered (the periodic orphan sweep visits those)."""
    try:
        target = await resolve(settings, registration.namespace, reader)
        store = store_for(target)
        await store.ping(registration.storage_namespace)
        await store.register(registration.storage_namespace, registration.record())
        if reached is not None:
            reached(target)
    except (RedisConfigError, RedisFailure) as exc:
        return ProbeOutcome(False, exc.reason, exc.message)
    return ProbeOutcome(True, "RedisReachable", f"Redis at {target.display} answers; GCS storage namespace "
                                               f"{registration.storage_namespace!r}")


def reachable_condition(outcome: ProbeOutcome | None, generation: int, now: str,
                        previous: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """None until the first probe finished (an unknown is not a failure)."""
    if outcome is None:
        old = previous.get(REDIS_REACHABLE)
        return dict(old, observedGeneration=generation) if old else None
    return condition(REDIS_REACHABLE, outcome.ok, outcome.reason, outcome.message, generation, now, previous)
