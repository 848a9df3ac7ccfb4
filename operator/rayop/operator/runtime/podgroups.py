"""Which members of a pod group to create and delete: "a named group of N replicas of M hosts" (pure, no I/O).

One engine for every kind that runs groups of pods: Ray worker groups (single-host pods, multi-host TPU/GPU slices)
and Kubeflow replica types (``{job}-{role}-{i}``). It decides from the group's spec and the members the watch cache
shows; the caller turns the outcome into pods, events and expectations.

The rules, in order:

* a suspended group deletes every member;
* a replica is created, replaced and deleted whole: a replica with missing, extra or unlabelled members
  (incomplete), with one member that should be deleted (unhealthy), or with one member named for deletion
  (explicit, KubeRay's ``workersToDelete``) is deleted as a whole, and a group with such deletions creates nothing
  in that pass (the replacement follows once the cache shows the deletions, as KubeRay does);
* then the group is scaled to its replica count. Single-host pods with random names are interchangeable (KubeRay's
  single-host rules, see :func:`_plan_pool`); replicas take an index, either the lowest free one (KubeRay's
  multi-host slices) or exactly ``0..N-1`` (Kubeflow: replica i is always index i, :attr:`Naming.INDEXED`);
* creations are limited by a :class:`CreateBudget` shared by all groups of one owner in one pass, so one huge
  scale-up cannot starve other owners; what the budget does not allow is ``deferred``. A replica larger than the
  whole budget is created alone by a pass that has created nothing else.

Groups whose earlier creates/deletes the cache does not show yet (expectations) are skipped by :func:`plan_groups`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, Protocol, TypeVar


class Member(Protocol):
    """What the engine reads of one existing pod of a group."""

    @property
    def name(self) -> str: ...
    @property
    def uid(self) -> str: ...
    @property
    def replica_name(self) -> str | None: ...
    @property
    def replica_index(self) -> int | None: ...
    @property
    def host_index(self) -> int | None: ...
    @property
    def running_and_ready(self) -> bool: ...
    @property
    def deleting(self) -> bool: ...
    #: Creation timestamp (ISO 8601, so that string order is time order).
    @property
    def created(self) -> str: ...
    def should_delete(self) -> bool:
        """The member is finished or broken and must be replaced (the kind's own rule)."""
        ...


M = TypeVar("M", bound=Member)


class Naming(Enum):
    """How the replicas of a group are identified."""

    #: KubeRay: single-host pods are interchangeable, named with a random suffix; multi-host replicas get a random
    #: replica name and the lowest free index, and are counted, not placed (indices stay sparse after the autoscaler
    #: deletes a replica by name).
    RANDOM_SUFFIX = "random-suffix"
    #: Kubeflow: replica i is always index i, its pods named from :func:`replica_key`. Indices ``0..N-1`` are kept
    #: filled (a missing one is recreated under the same index); higher indices are the scale-down.
    INDEXED = "indexed"


@dataclass(frozen=True)
class GroupSpec:
    """What one group wants."""

    name: str
    #: Replicas wanted (already clamped by the kind: KubeRay's [min, max]).
    replicas: int
    #: Members per replica (KubeRay's numOfHosts).
    hosts: int = 1
    naming: Naming = Naming.RANDOM_SUFFIX
    suspend: bool = False
    #: Members named for deletion (KubeRay's ``scaleStrategy.workersToDelete``): deleted with their whole replica.
    delete_names: frozenset[str] = frozenset()
    #: May the engine choose members to delete when there are too many (False: the autoscaler decides alone)?
    scale_down: bool = True


class Cause(Enum):
    """Why a member is deleted; the kind turns it into its own event message."""

    SUSPENDED = "suspended"
    UNHEALTHY = "unhealthy"
    INCOMPLETE = "incomplete"
    EXPLICIT = "explicit"
    SCALE_DOWN = "scale-down"


@dataclass(frozen=True)
class Removal(Generic[M]):
    """Delete one member."""

    member: M
    cause: Cause
    #: The key of its replica (None for interchangeable single-host pods).
    replica: str | None = None
    #: How many members that replica had (for "incomplete: 1/2 hosts").
    size: int = 1


@dataclass(frozen=True)
class Creation:
    """Create one member; replica members carry their replica's index and key and their host index."""

    replica_index: int | None = None
    host_index: int | None = None
    replica_key: str | None = None


@dataclass
class GroupPlan(Generic[M]):
    creates: list[Creation] = field(default_factory=list)
    deletes: list[Removal[M]] = field(default_factory=list)
    #: More members are wanted than the budget allowed in this pass.
    deferred: bool = False


@dataclass
class CreateBudget:
    """Creations one pass of one owner may still make, shared by its groups in order."""

    limit: int
    spent: int = 0

    @property
    def left(self) -> int:
        return max(self.limit - self.spent, 0)

    def charge(self, n: int) -> None:
        """Count creations planned outside the engine (the Ray head)."""
        self.spent += n

    def take_up_to(self, n: int) -> int:
        """Reserve up to ``n`` single creations; returns how many were granted."""
        granted = min(n, self.left)
        self.spent += granted
        return granted

    def take(self, n: int) -> bool:
        """Reserve one whole replica of ``n`` members, or nothing: a replica is never split across passes.

        A replica larger than the whole budget (a 64-host TPU slice under the default 50) would then never be
        created, so a pass that has not spent anything yet may take it anyway; the budget is then used up, and the
        owner's other creations wait for the next pass.
        """
        if n > self.left and not (self.spent == 0 and self.limit > 0):
            return False
        self.spent += n
        return True


def replica_key(group: str, index: int) -> str:
    """The key of replica ``index``: with :attr:`Naming.INDEXED` and one host, the pod's stable name
    (``{job}-{role}-{i}`` when the group is named ``{job}-{role}``); for KubeRay, a key the caller maps to a random
    replica name."""
    return f"{group}-{index}"


def plan_groups(specs: Sequence[GroupSpec], members: Mapping[str, Sequence[M]], budget: CreateBudget,
                pending: frozenset[str] = frozenset()) -> list[tuple[GroupSpec, GroupPlan[M]]]:
    """Plan every group of one owner in spec order, sharing ``budget``; ``pending`` groups are skipped."""
    return [(spec, plan_group(spec, members.get(spec.name, ()), budget)) for spec in specs
            if spec.name not in pending]


def plan_group(spec: GroupSpec, members: Sequence[M], budget: CreateBudget) -> GroupPlan[M]:
    """Plan one group from its members (terminating ones included or not: they are never counted or deleted)."""
    live = [m for m in members if not m.deleting]
    if spec.hosts <= 1 and spec.naming is Naming.RANDOM_SUFFIX:
        return _plan_pool(spec, live, budget)
    held = {m.replica_index for m in members if m.deleting and m.replica_index is not None}
    return _plan_replicas(spec, live, budget, held if spec.naming is Naming.INDEXED else set())


def _plan_pool(spec: GroupSpec, live: list[M], budget: CreateBudget) -> GroupPlan[M]:
    """KubeRay's single-host rules: unhealthy pods are deleted first and alone (no creation in that pass); named
    pods are deleted and the rest counted, so their replacements are created in the same pass; surplus pods go
    not-running-or-unready first, then newest first (KubeRay deletes "the first listed")."""
    plan: GroupPlan[M] = GroupPlan()
    if spec.suspend:
        plan.deletes = [Removal(m, Cause.SUSPENDED) for m in live]
        return plan
    unhealthy = [m for m in live if m.should_delete()]
    if unhealthy:
        plan.deletes = [Removal(m, Cause.UNHEALTHY) for m in unhealthy]
        return plan
    plan.deletes = [Removal(m, Cause.EXPLICIT) for m in live if m.name in spec.delete_names]
    remaining = [m for m in live if m.name not in spec.delete_names]
    diff = spec.replicas - len(remaining)
    if diff > 0:
        granted = budget.take_up_to(diff)
        plan.creates = [Creation() for _ in range(granted)]
        plan.deferred = granted < diff
    elif diff < 0 and spec.scale_down:
        victims = sorted(remaining, key=lambda m: (m.running_and_ready, _newest_first(m.created)))[:-diff]
        plan.deletes += [Removal(m, Cause.SCALE_DOWN) for m in victims]
    return plan


def _newest_first(created: str) -> tuple[int, ...]:
    """Sort key that orders ISO timestamps newest first."""
    return tuple(-ord(c) for c in created)


def _plan_replicas(spec: GroupSpec, live: list[M], budget: CreateBudget, held: set[int]) -> GroupPlan[M]:
    """Replicas of ``hosts`` members, created, replaced and deleted whole. ``held`` are indices whose members are
    still terminating: with stable names they cannot be recreated before those pods are gone."""
    plan: GroupPlan[M] = GroupPlan()
    indexed = spec.naming is Naming.INDEXED
    replicas: dict[str, list[M]] = {}
    for m in live:
        replicas.setdefault(_identity(spec, m), []).append(m)

    def remove(key: str, members: list[M], cause: Cause) -> None:
        plan.deletes.extend(Removal(m, cause, key, len(members)) for m in members)

    if spec.suspend:
        for key, members in replicas.items():
            remove(key, members, Cause.SUSPENDED)
        return plan
    whole: dict[str, list[M]] = {}
    for key, members in replicas.items():
        if len(members) != spec.hosts or any(_orphan(spec, m) for m in members):
            remove(key, members, Cause.INCOMPLETE)
        elif any(m.should_delete() for m in members):
            remove(key, members, Cause.UNHEALTHY)
        elif any(m.name in spec.delete_names for m in members):
            remove(key, members, Cause.EXPLICIT)
        else:
            whole[key] = members
    if len(whole) != len(replicas):
        return plan  # replace only once the deletions are observed
    used = {members[0].replica_index for members in whole.values()}
    by_index = sorted(whole.items(), key=lambda kv: -(kv[1][0].replica_index or 0))  # highest index first
    if indexed:
        wanted = [i for i in range(spec.replicas) if i not in used and i not in held]
        surplus = [kv for kv in by_index if (kv[1][0].replica_index or 0) >= spec.replicas]
    else:
        missing = spec.replicas - len(whole)
        wanted = _lowest_free(used, max(missing, 0))
        surplus = by_index[:-missing] if missing < 0 else []
    for index in wanted:
        if not budget.take(spec.hosts):
            plan.deferred = True
            break
        key = replica_key(spec.name, index)
        plan.creates += [Creation(index, h, key) for h in range(spec.hosts)]
    if spec.scale_down:
        for key, members in surplus:
            remove(key, members, Cause.SCALE_DOWN)
    return plan


def _identity(spec: GroupSpec, m: Member) -> str:
    """The replica a member belongs to: its index for indexed groups, else its replica name."""
    if spec.naming is Naming.INDEXED:
        return replica_key(spec.name, m.replica_index) if m.replica_index is not None else f"orphan-{m.name}"
    return m.replica_name or f"orphan-{m.name}"


def _orphan(spec: GroupSpec, m: Member) -> bool:
    return m.replica_index is None if spec.naming is Naming.INDEXED else m.replica_name is None


def _lowest_free(used: set[int | None], n: int) -> list[int]:
    free: list[int] = []
    index = 0
    while len(free) < n:
        if index not in used:
            free.append(index)
        index += 1
    return free
