"""What to do next while an FT RayCluster is being deleted (pure): KubeRay's Redis cleanup, minus the Job.

KubeRay deletes the pods, waits for the head pod to be gone, then runs a cleanup Job and removes its finalizer when
the Job finishes, force-removing it ``ray.io/gcs-ft-deletion-timeout`` seconds (default 300) after deletion. That
Job has left clusters stuck in Terminating (kuberay#4721, #4767). Here the operator deletes the keys itself, with
retries and backoff, and the same deadline ends every path: Redis down, wrong password, Secret deleted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rayop.api import labels as L

DEFAULT_DELETION_TIMEOUT_SECONDS = 300.0
#: Backoff between cleanup attempts: 1 s doubling to 30 s (the deadline, not the attempt count, ends retries).
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0


def deletion_timeout(annotations: dict[str, str], default: float = DEFAULT_DELETION_TIMEOUT_SECONDS) -> float:
    """``ray.io/gcs-ft-deletion-timeout`` in seconds; a missing, unparsable or non-positive value is the default."""
    raw = annotations.get(L.GCS_FT_DELETION_TIMEOUT)
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value > 0 and math.isfinite(value) else default


def backoff(attempts: int) -> float:
    """Pause after ``attempts`` failed cleanups."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(0, attempts - 1))


@dataclass(frozen=True)
class DeletionView:
    """The facts one deletion pass decides on."""

    elapsed: float
    deadline: float
    pods_to_delete: tuple[str, ...]
    head_present: bool
    #: True: the keys are gone; False: the last attempt failed; None: no attempt finished yet.
    cleaned: bool | None
    cleanup_running: bool
    attempts: int
    since_last_failure: float | None


@dataclass(frozen=True)
class Step:
    kind: str  # "delete-pods" | "wait-head" | "cleanup" | "retry" | "done" | "force-remove"
    after: float = 0.0
    pods: tuple[str, ...] = ()


def force_removed_message(elapsed: float, storage_namespace: str) -> str:
    """KubeRay's ``ForceDeletedStuckCluster`` message."""
    return (f"Force-removed GCS FT finalizer after {int(elapsed)}s due to Redis cleanup timeout; "
            f"Redis storage namespace {storage_namespace!r} may need manual cleanup")


def next_step(view: DeletionView) -> Step:
    """One decision; the caller acts on it and comes back (the finished call or pod event wakes it)."""
    if view.cleaned is True:
        return Step("done")
    remaining = view.deadline - view.elapsed
    if remaining <= 0:
        return Step("force-remove")
    if view.pods_to_delete:
        return Step("delete-pods", after=min(2.0, remaining), pods=view.pods_to_delete)
    if view.head_present:
        return Step("wait-head", after=min(2.0, remaining))
    if view.cleanup_running:
        return Step("retry", after=min(1.0, remaining))
    if view.cleaned is False and view.since_last_failure is not None:
        wait = backoff(view.attempts) - view.since_last_failure
        if wait > 0:
            return Step("retry", after=min(wait, remaining))
    return Step("cleanup", after=min(1.0, remaining))
