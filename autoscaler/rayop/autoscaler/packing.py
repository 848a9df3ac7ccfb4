"""Bin-packing of resource bundles onto node slots, opening new nodes of worker groups when needed (pure).

Slots are existing Ray nodes (with their free resources), pods that are asked for but not yet Ray nodes (with
their group's full shape), and nodes opened during this pass. A bundle goes to the first slot that fits (existing
nodes before pending pods before new nodes); only when none fits is a new replica of the cheapest fitting group
opened (higher ``priority`` first, then fewest unneeded accelerators, then the smallest node). Groups at
``maxReplicas``, blocked groups and groups waiting for deletions are skipped; a group that reached its per-step
upscaling cap defers the bundle to the next step instead of spilling to a more expensive group.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from rayop.autoscaler.state import IGNORED_RESOURCES, GroupShape, Resources

_EPS = 1e-9
#: Resources that make a node expensive; a group is avoided if it has them and the bundle does not ask for them.
ACCELERATORS = ("GPU", "TPU", "neuron_cores", "HPU", "NPU")


class Outcome(Enum):
    EXISTING = "existing"
    NEW = "new"
    DEFERRED = "deferred"
    UNMET = "unmet"  # a group shape fits, but every such group is at max / blocked / waiting
    INFEASIBLE = "infeasible"  # no group's node shape can hold it


def fits(need: Mapping[str, float], have: Mapping[str, float]) -> bool:
    return all(v <= have.get(k, 0.0) + _EPS for k, v in need.items() if v > 0 and k not in IGNORED_RESOURCES)


def subtract(have: Resources, need: Mapping[str, float]) -> None:
    for k, v in need.items():
        if k not in IGNORED_RESOURCES and v > 0:
            have[k] = have.get(k, 0.0) - v


def add(bundles: Iterable[Mapping[str, float]]) -> Resources:
    out: Resources = {}
    for b in bundles:
        for k, v in b.items():
            out[k] = out.get(k, 0.0) + v
    return out


def group_cost(group: GroupShape, bundle: Mapping[str, float]) -> tuple[float, ...]:
    """Sort key: higher priority first, then fewer accelerators the bundle does not need, then smaller nodes."""
    waste = sum(v for k, v in group.resources.items() if k in ACCELERATORS and bundle.get(k, 0) <= 0)
    res = group.resources
    return (-group.priority, waste, sum(res.get(k, 0) for k in ACCELERATORS), res.get("CPU", 0.0),
            res.get("memory", 0.0), len(res), group.index)


@dataclass
class Slot:
    key: str
    group: str
    free: Resources
    kind: str  # "ray" | "pending" | "new"
    used: bool = False


@dataclass
class Packer:
    """Places bundles; ``new_nodes[group]`` counts nodes opened (always whole replicas)."""

    groups: Mapping[str, GroupShape]
    slots: list[Slot]
    #: Nodes each group has now (pods asked for), for the maxReplicas check.
    current_nodes: Mapping[str, int]
    #: Max nodes each group may open in this step (upscaling speed); absent = unlimited.
    step_cap: Mapping[str, int] = field(default_factory=dict)
    #: Groups that must not get new nodes, with the reason (blocked, waiting for deletions).
    unavailable: Mapping[str, str] = field(default_factory=dict)
    new_nodes: dict[str, int] = field(default_factory=dict)
    #: Why a bundle was not placed on a fitting group: group -> "maxReplicas" / reason of unavailability.
    skipped: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> tuple[list[Slot], dict[str, int], dict[str, str]]:
        return copy.deepcopy(self.slots), dict(self.new_nodes), dict(self.skipped)

    def restore(self, snap: tuple[list[Slot], dict[str, int], dict[str, str]]) -> None:
        self.slots, self.new_nodes, self.skipped = copy.deepcopy(snap[0]), dict(snap[1]), dict(snap[2])

    def _open(self, group: GroupShape) -> list[Slot]:
        start = self.new_nodes.get(group.name, 0)
        opened = [Slot(f"new:{group.name}:{start + i}", group.name, dict(group.resources), "new")
                  for i in range(group.num_of_hosts)]
        self.new_nodes[group.name] = start + group.num_of_hosts
        self.slots.extend(opened)
        return opened

    def _candidates(self, bundle: Mapping[str, float]) -> list[GroupShape]:
        fitting = [g for g in self.groups.values() if fits(bundle, g.resources)]
        return sorted(fitting, key=lambda g: group_cost(g, bundle))

    def place(self, bundle: Mapping[str, float], exclude: set[str] | None = None,
              group_filter: str | None = None) -> tuple[Outcome, Slot | None]:
        """Place one bundle; ``exclude`` holds slot keys it may not share (STRICT_SPREAD)."""
        exclude = exclude or set()
        for slot in self.slots:
            if slot.key in exclude or (group_filter and slot.group != group_filter):
                continue
            if fits(bundle, slot.free):
                subtract(slot.free, bundle)
                slot.used = True
                return (Outcome.NEW if slot.kind == "new" else Outcome.EXISTING), slot
        candidates = self._candidates(bundle)
        if not candidates:
            return Outcome.INFEASIBLE, None
        for group in candidates:
            if group_filter and group.name != group_filter:
                continue
            if group.name in self.unavailable:
                self.skipped[group.name] = self.unavailable[group.name]
                continue
            opened = self.new_nodes.get(group.name, 0)
            if self.current_nodes.get(group.name, 0) + opened + group.num_of_hosts > group.max_nodes:
                self.skipped[group.name] = "at maxReplicas"
                continue
            cap = self.step_cap.get(group.name)
            if cap is not None and opened + group.num_of_hosts > cap:
                self.skipped[group.name] = "upscaling speed (Conservative)"
                return Outcome.DEFERRED, None
            slot = self._open(group)[0]
            subtract(slot.free, bundle)
            slot.used = True
            return Outcome.NEW, slot
        return Outcome.UNMET, None

    def place_gang(self, bundles: list[Resources], strategy: str) -> Outcome:
        """All bundles of a placement group or none. STRICT_PACK: one node; STRICT_SPREAD: distinct nodes."""
        snap = self.snapshot()
        if strategy == "STRICT_PACK":
            outcome, _ = self.place(add(bundles))
            return outcome
        worst = Outcome.EXISTING
        taken: set[str] = set()
        for bundle in sorted(bundles, key=_size, reverse=True):
            outcome, slot = self.place(bundle, exclude=taken if strategy == "STRICT_SPREAD" else None)
            if slot is None:
                self.restore(snap)
                return outcome
            taken.add(slot.key)
            if outcome is Outcome.NEW:
                worst = Outcome.NEW
        return worst


def _size(bundle: Mapping[str, float]) -> tuple[float, ...]:
    return (sum(bundle.get(k, 0) for k in ACCELERATORS), bundle.get("CPU", 0.0), bundle.get("memory", 0.0),
            sum(bundle.values()))


def sort_bundles(bundles: Iterable[Resources]) -> list[Resources]:
    """Largest first (first-fit decreasing)."""
    return sorted(bundles, key=_size, reverse=True)
