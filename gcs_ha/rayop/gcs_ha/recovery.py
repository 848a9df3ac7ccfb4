"""Head failure recovery as a condition and events (pure): head lost → restarting → recovered, with its duration.

With GCS fault tolerance the head is the only pod that must come back: the pod planner recreates a missing head
(the storage namespace is fixed by the cluster, so the new head restores from the same Redis keys) and leaves the
workers alone, whose raylets wait up to ``RAY_gcs_rpc_server_reconnect_timeout_s`` for the new GCS. This module
only makes that visible. ``HeadRecovery`` is True while a head serves and False from the moment it is lost until a
head is ready again; the status stays False through "lost" and "restarting", so the condition's
``lastTransitionTime`` is the moment of loss and the recovery message carries the outage's length. Everything it
needs after an operator restart is in the previous status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rayop.api.conditions import condition

HEAD_RECOVERY = "HeadRecovery"
RUNNING, LOST, RESTARTING, RECOVERED = "HeadPodRunning", "HeadPodLost", "HeadPodRestarting", "HeadPodRecovered"


@dataclass(frozen=True)
class Event:
    warning: bool
    reason: str
    message: str


def _seconds_between(start: str, end: str) -> float:
    def parse(stamp: str) -> dt.datetime:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    try:
        return max(0.0, (parse(end) - parse(start)).total_seconds())
    except ValueError:
        return 0.0


def recovery_condition(*, head_name: str | None, head_ready: bool, previous: dict[str, dict[str, Any]],
                       previous_head: str | None, storage_namespace: str, generation: int,
                       now: str, head_created: str | None = None) -> tuple[dict[str, Any] | None, Event | None]:
    """This pass's ``HeadRecovery`` condition (None before the head was ever ready) and the event of a change.

    A ready head other than the one the previous status named, while the condition still says True, is a loss
    no pass saw (the operator was down, or the replacement was ready before the next status write): it is
    reported as a recovery timed from the new pod's creation (a lower bound of the outage).
    """
    old = previous.get(HEAD_RECOVERY)
    old_reason = old.get("reason") if old else None
    if head_name is not None and head_ready:
        if old is None:
            return condition(HEAD_RECOVERY, True, RUNNING, f"Head pod {head_name} is ready", generation, now,
                             previous), None
        replaced_unseen = old.get("status") == "True" and previous_head not in (None, head_name)
        if old.get("status") == "True" and not replaced_unseen:
            return dict(old, observedGeneration=generation), None
        since = head_created if replaced_unseen and head_created else str(old.get("lastTransitionTime", now))
        took = _seconds_between(since, now)
        message = (f"Head pod {head_name} is ready {took:.1f}s after the head was lost; GCS state restored from "
                   f"Redis storage namespace {storage_namespace!r}, worker pods kept")
        cond = condition(HEAD_RECOVERY, True, RECOVERED, message, generation, now, previous)
        if replaced_unseen:
            cond["lastTransitionTime"] = now
        return cond, Event(False, RECOVERED, message)
    if old is None:
        return None, None  # still starting for the first time: not a failure
    if head_name is None:
        lost = previous_head or "the head pod"
        message = (f"Head pod {lost} is gone; a new head will restore GCS state from Redis storage namespace "
                   f"{storage_namespace!r}")
        reason, warning = LOST, True
    else:
        message = f"Head pod {head_name} is starting and restoring GCS state from Redis storage namespace " \
                  f"{storage_namespace!r}"
        reason, warning = RESTARTING, False
    if old.get("status") == "False" and old_reason in (LOST, RESTARTING):
        message = old.get("message", message) if old_reason == reason else message
    cond = condition(HEAD_RECOVERY, False, reason, message, generation, now, previous)
    event = None if old_reason == reason and old.get("status") == "False" else Event(warning, reason, message)
    return cond, event
