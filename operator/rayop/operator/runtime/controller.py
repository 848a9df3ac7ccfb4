"""The contract between a kind and the runtime: what a controller declares, what a pass returns.

A kind (RayCluster today; RayJob, RayService and the Kubeflow jobs next) is one :class:`Controller`: the resource
it reconciles, the children whose changes wake it, whether it holds a finalizer, which of its own changes need a
pass, ``reconcile`` and ``finalize``. The runner (:mod:`rayop.operator.runtime.runner`) does everything else the
same way for every kind: shared informers, the work queue, back-off, finalizers, metrics and forgetting deleted
objects. A pass never decides *how* it is retried, only *what* happened, as a typed :class:`Result`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from rayop.kube.informers import Resource

Key = tuple[str, str]
Body = dict[str, Any]


class Outcome(enum.Enum):
    """What one pass ended with."""

    DONE = "done"
    """Converged for now: the next pass comes with an event (or the resync)."""
    REQUEUE = "requeue"
    """Look again after ``Result.after`` seconds even without an event (more to do, or a timer to honour)."""
    WAITING = "waiting"
    """Waiting for the cache to show the pass's own creates/deletes (expectations); the events normally come first,
    so the requeue only bounds a lost event."""
    INVALID_SPEC = "invalid-spec"
    """The spec cannot be acted on; it was reported (event + condition) and no retry helps until it changes."""
    FAILED = "failed"
    """Something failed that may succeed later (API refused, conflict): retry with per-object back-off."""


@dataclass(frozen=True)
class Result:
    """A pass's outcome; construct with the class methods."""

    outcome: Outcome = Outcome.DONE
    after: float | None = None
    message: str = ""

    @classmethod
    def done(cls) -> Result:
        return cls()

    @classmethod
    def requeue(cls, after: float) -> Result:
        return cls(Outcome.REQUEUE, after=after)

    @classmethod
    def waiting(cls) -> Result:
        return cls(Outcome.WAITING)

    @classmethod
    def invalid_spec(cls, message: str) -> Result:
        return cls(Outcome.INVALID_SPEC, message=message)

    @classmethod
    def failed(cls, message: str) -> Result:
        return cls(Outcome.FAILED, message=message)

    def sooner(self, other: Result) -> Result:
        """The more urgent of two results (a pass that did two things reports the one that needs attention)."""
        rank = {Outcome.FAILED: 0, Outcome.REQUEUE: 1, Outcome.WAITING: 2, Outcome.INVALID_SPEC: 3, Outcome.DONE: 4}
        if rank[other.outcome] != rank[self.outcome]:
            return other if rank[other.outcome] < rank[self.outcome] else self
        if self.outcome is Outcome.REQUEUE and other.after is not None and (self.after or 0) > other.after:
            return other
        return self


def owner_by_label(label: str) -> Callable[[Body], Key | None]:
    """Map a child to its owner by a label holding the owner's name (``ray.io/cluster``)."""

    def owner(obj: Body) -> Key | None:
        meta = obj.get("metadata", {})
        value = (meta.get("labels") or {}).get(label)
        return (meta.get("namespace", ""), value) if value else None

    return owner


def owner_by_reference(kind: str) -> Callable[[Body], Key | None]:
    """Map a child to its owner by its controlling ownerReference of ``kind``."""

    def owner(obj: Body) -> Key | None:
        meta = obj.get("metadata", {})
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == kind:
                return (meta.get("namespace", ""), ref["name"])
        return None

    return owner


@dataclass(frozen=True)
class Watch:
    """Changes of ``resource`` wake the owner that ``owner_of`` names (children, or anything else a kind reads)."""

    resource: Resource
    owner_of: Callable[[Body], Key | None]
    #: Label indexes the kind reads this resource by (``ray.io/cluster``: a cluster's pods without a scan).
    index_labels: tuple[str, ...] = ()


def needs_pass_on_change(old: Body | None, new: Body) -> bool:
    """KubeRay's predicates for an object's own events: generation, labels or annotations changed, or deletion.

    A status-only change (most often the controller's own status write coming back through the watch) needs no
    pass; children's events and the resync still wake the object.
    """
    if old is None:
        return True
    before, after = old.get("metadata", {}), new.get("metadata", {})
    return any(before.get(k) != after.get(k)
               for k in ("generation", "labels", "annotations", "deletionTimestamp", "finalizers"))


#: The one ``spec.managedBy`` value (besides unset) that KubeRay-compatible controllers act on.
MANAGED_BY_KUBERAY = "ray.io/kuberay-operator"


def managed_here(obj: Body) -> bool:
    """KubeRay's ``managedBy`` rule: an object managed by another controller (MultiKueue) is never touched."""
    managed_by = (obj.get("spec") or {}).get("managedBy")
    return not managed_by or managed_by == MANAGED_BY_KUBERAY


class Controller(Protocol):
    """One kind's reconciler. ``reconcile`` and ``finalize`` get the latest cached body; they read children from
    the shared informers the runner gives them, write through the client, and return a :class:`Result`."""

    #: The reconciled resource (its informer is shared with any other controller that watches it).
    resource: ClassVar[Resource]
    kind: ClassVar[str]
    #: Events and metrics name the controller like KubeRay's (``raycluster-controller``).
    component: ClassVar[str]
    #: A finalizer the runtime adds to every live object and removes after ``finalize`` succeeded (None: none).
    finalizer: ClassVar[str | None]

    def watches(self) -> Sequence[Watch]: ...

    def is_mine(self, obj: Body) -> bool:
        """Whether this controller manages ``obj`` at all (``managedBy`` another controller: never touched)."""
        ...

    def needs_pass(self, old: Body | None, new: Body) -> bool: ...

    async def reconcile(self, obj: Body) -> Result: ...

    async def finalize(self, obj: Body) -> Result:
        """Clean up outside the cluster before the object goes (stop a Ray job, remove Redis keys)."""
        ...

    def forget(self, key: Key, obj: Body) -> None:
        """The object is gone: drop what is remembered in memory for it (expectations, metric series)."""
        ...

    async def close(self) -> None:
        """Stop what the controller runs beside its passes (pollers, background calls)."""
        ...
