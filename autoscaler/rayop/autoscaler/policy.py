"""The planner: ``decide(state, now) -> Decision``. Pure: no I/O, no clock, no memory between calls.

Rules, in order:

1. **Pending deletions first.** A group whose ``workersToDelete`` still names live pods is left alone (Ray's
   autoscaler refuses to scale such a group too); once they are gone the list is cleared.
2. **Capacity already asked for counts.** A group has ``max(replicas, minReplicas) * numOfHosts`` nodes, or more if
   more pods exist; pods that are not Ray nodes yet are packed as full nodes of their group, so a restart or a slow
   pod never leads to scaling twice for the same demand.
3. **Unschedulable pods.** Pods the scheduler has reported Unschedulable for longer than
   ``unschedulable_bound_s`` are given up: listed in ``workersToDelete`` (whole replicas for multi-host groups), the
   group is blocked for ``block_s`` and the demand they were for is packed again, onto another group if one fits.
4. **request_resources constraints** are packed against node totals; **pending placement groups and tasks**
   against free resources, then onto new nodes (see :mod:`.packing`). STRICT_PACK bundles share one node,
   STRICT_SPREAD bundles need distinct nodes, and a placement group is placed whole or not at all.
5. **Limits.** New nodes never exceed ``maxReplicas``; with ``upscalingMode: Conservative`` a group at most doubles
   per step (at least one replica); Default and Aggressive are unlimited, as in Ray (speed 1000).
6. **Idle scale-down.** A node idle for longer than its group's ``idleTimeoutSeconds`` is removed (drained first,
   then listed in ``workersToDelete``) unless it holds running tasks, actors or placement-group bundles, was
   needed by this pass's demand or constraints, or the group would drop below ``minReplicas``. Multi-host groups
   lose whole replicas only, and only when every host is idle.
7. Demand that fits no group, or only groups that are full or blocked, is reported and not scaled for.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from rayop.autoscaler.packing import Outcome, Packer, Slot, sort_bundles
from rayop.autoscaler.state import (
    ClusterState,
    Decision,
    GroupShape,
    GroupTarget,
    PlacementGroupDemand,
    RayNode,
    Resources,
    WorkerPod,
    format_resources,
)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Plan:
    """Mutable working state of one :func:`decide` call."""

    def __init__(self, state: ClusterState, now: float) -> None:
        self.state = state
        self.now = now
        self.groups = {g.name: g for g in state.groups}
        self.decision = Decision(
            blocked_until={g: t for g, t in state.blocked_until.items() if t > now and g in self.groups})
        self.live_pods: dict[str, list[WorkerPod]] = defaultdict(list)
        for pod in state.pods:
            if not pod.deleting and pod.group in self.groups:
                self.live_pods[pod.group].append(pod)
        self.wtd: dict[str, list[str]] = {}
        self.nodes: dict[str, int] = {}
        self.unavailable: dict[str, str] = {}
        self.freed: set[str] = set()
        #: group -> Counter of (what, shape) that made it grow.
        self.growth: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)

    # -- rules 1-3 ------------------------------------------------------------------------------------------
    def settle_deletions(self) -> None:
        for g in self.groups.values():
            live = {p.name for p in self.live_pods[g.name]}
            waiting = [n for n in g.workers_to_delete if n in live]
            if waiting:
                self.wtd[g.name] = list(g.workers_to_delete)
                self.unavailable[g.name] = "waiting for workersToDelete to be deleted"
                self.decision.reasons.append(
                    f"group {g.name}: waiting for the operator to delete {', '.join(waiting)}")
            else:
                self.wtd[g.name] = []
            pods = [p for p in self.live_pods[g.name] if p.name not in g.workers_to_delete]
            clamped = min(max(g.replicas, g.min_replicas), g.max_replicas)
            self.nodes[g.name] = max(clamped * g.num_of_hosts, len(pods))

    def free_unschedulable(self) -> None:
        bound = self.state.unschedulable_bound_s
        for g in self.groups.values():
            if g.name in self.unavailable:
                continue
            pods = [p for p in self.live_pods[g.name] if p.name not in g.workers_to_delete]
            stuck = {p.name for p in pods
                     if p.unschedulable_since is not None and self.now - p.unschedulable_since > bound}
            if not stuck:
                continue
            replicas = {p.replica for p in pods if p.name in stuck and p.replica}
            stuck |= {p.name for p in pods if p.replica and p.replica in replicas}
            removable = max(0, self.nodes[g.name] - g.min_nodes)
            victims = sorted(stuck)[: removable - removable % g.num_of_hosts]
            if victims:
                self.wtd[g.name].extend(victims)
                self.freed.update(victims)
                self.nodes[g.name] -= len(victims)
            self.decision.blocked_until[g.name] = self.now + self.state.block_s
            self.decision.reasons.append(
                f"group {g.name}: {_plural(len(stuck), 'pod')} unschedulable for more than {bound:g}s "
                f"({', '.join(sorted(stuck))}); gave up on {len(victims)} and trying other groups for "
                f"{self.state.block_s:g}s")
        for name, until in self.decision.blocked_until.items():
            self.unavailable.setdefault(name, f"pods unschedulable (blocked until {until:.0f})")

    # -- rules 2, 4, 5 ------------------------------------------------------------------------------------------
    def _ray_nodes(self) -> list[RayNode]:
        pods = {p.name for group in self.live_pods.values() for p in group}
        return [n for n in self.state.nodes
                if n.status != "DRAINING" and (n.is_head or (n.pod_name in pods and n.pod_name not in self.freed
                                                            and n.pod_name not in self._old_wtd(n.group)))]

    def _old_wtd(self, group: str) -> tuple[str, ...]:
        g = self.groups.get(group)
        return g.workers_to_delete if g else ()

    def slots(self, use_totals: bool) -> list[Slot]:
        out, seen = [], Counter[str]()
        for n in self._ray_nodes():
            out.append(Slot(n.node_id, n.group, dict(n.total if use_totals else n.available), "ray"))
            if not n.is_head:
                seen[n.group] += 1
        for g in self.groups.values():
            for i in range(max(0, self.nodes[g.name] - seen[g.name])):
                out.append(Slot(f"pending:{g.name}:{i}", g.name, dict(g.resources), "pending"))
        return out

    def step_caps(self) -> dict[str, int]:
        if self.state.upscaling_mode != "Conservative":
            return {}
        running = Counter(n.group for n in self._ray_nodes() if not n.is_head)
        return {g.name: max(g.num_of_hosts, running[g.name] - running[g.name] % g.num_of_hosts)
                for g in self.groups.values()}

    def pack(self) -> tuple[set[str], dict[str, int]]:
        """Returns the slot keys that demand or constraints need, and the new nodes per group."""
        caps = self.step_caps()
        needed: set[str] = set()
        # Constraints against totals.
        packer = Packer(self.groups, self.slots(use_totals=True), self.nodes, caps, self.unavailable)
        self._run(packer, [("request_resources bundle", b) for b in sort_bundles(self.state.constraints)], [])
        needed |= {s.key for s in packer.slots if s.used}
        constraint_new = dict(packer.new_nodes)
        # Demand against free resources, with the nodes constraints opened already in place.
        slots = self.slots(use_totals=False)
        for group, count in constraint_new.items():
            slots += [Slot(f"new:{group}:{i}", group, dict(self.groups[group].resources), "new")
                      for i in range(count)]
        packer = Packer(self.groups, slots, self.nodes, caps, self.unavailable, new_nodes=dict(constraint_new))
        tasks = [("pending task", b) for b in sort_bundles(self.state.pending_tasks)]
        self._run(packer, tasks, list(self.state.placement_groups))
        needed |= {s.key for s in packer.slots if s.used}
        return needed, packer.new_nodes

    def _run(self, packer: Packer, bundles: list[tuple[str, Resources]], pgs: list[PlacementGroupDemand]) -> None:
        unplaced: Counter[tuple[str, str, str]] = Counter()
        order = {"STRICT_SPREAD": 0, "STRICT_PACK": 1, "PACK": 2, "SPREAD": 3}
        for pg in sorted(pgs, key=lambda p: order.get(p.strategy, 4)):
            before = dict(packer.new_nodes)
            what = " ".join(x for x in (pg.strategy, "placement group", pg.name) if x)
            shape = "[" + ", ".join(format_resources(b) for b in pg.bundles) + "]"
            outcome = packer.place_gang(list(pg.bundles), pg.strategy)
            for group, count in packer.new_nodes.items():
                if count > before.get(group, 0):
                    self.growth[group][(what, shape)] += 1
            if outcome in (Outcome.UNMET, Outcome.INFEASIBLE, Outcome.DEFERRED):
                unplaced[(outcome.value, what, shape)] += 1
        for what, bundle in bundles:
            outcome, slot = packer.place(bundle)
            if slot is not None and slot.kind == "new":
                self.growth[slot.group][(what, format_resources(bundle))] += 1
            if outcome in (Outcome.UNMET, Outcome.INFEASIBLE, Outcome.DEFERRED):
                unplaced[(outcome.value, what, format_resources(bundle))] += 1
        for (kind, what, shape), n in sorted(unplaced.items()):
            text = f"{_plural(n, what)} {shape}"
            if kind == Outcome.INFEASIBLE.value:
                self.decision.unsatisfiable.append(f"{text}: no worker group has nodes that fit")
            elif kind == Outcome.UNMET.value:
                why = "; ".join(f"{g} {r}" for g, r in sorted(packer.skipped.items()))
                self.decision.unsatisfiable.append(f"{text}: every fitting group is unavailable ({why})")
            else:
                self.decision.reasons.append(f"{text} deferred to the next step (Conservative upscaling)")

    # -- rule 6 ---------------------------------------------------------------------------------------------
    def idle_victims(self, needed: set[str]) -> dict[str, list[RayNode]]:
        out: dict[str, list[RayNode]] = {}
        ray_nodes = [n for n in self.state.nodes if not n.is_head]
        pods = {p.name: p for group in self.live_pods.values() for p in group}
        for g in self.groups.values():
            if g.name in self.unavailable and g.name not in self.decision.blocked_until:
                continue
            mine = [n for n in ray_nodes if n.group == g.name and n.pod_name in pods
                    and n.pod_name not in g.workers_to_delete and n.pod_name not in self.freed]
            idle = [n for n in mine if not n.busy and n.node_id not in needed and n.idle_s > g.idle_timeout_s]
            units: list[list[RayNode]]
            if g.num_of_hosts > 1:
                by_replica: dict[str, list[RayNode]] = defaultdict(list)
                for n in idle:
                    by_replica[pods[n.pod_name].replica or n.pod_name].append(n)
                units = [m for m in by_replica.values() if len(m) == g.num_of_hosts]
            else:
                units = [[n] for n in idle]
            units.sort(key=lambda m: (-min(n.idle_s for n in m), m[0].pod_name))
            chosen: list[RayNode] = []
            for unit in units:
                if self.nodes[g.name] - len(chosen) - len(unit) < g.min_nodes:
                    break
                chosen.extend(unit)
            if chosen:
                out[g.name] = chosen
        return out


def decide(state: ClusterState, now: float) -> Decision:
    """Target replicas and workersToDelete per group, nodes to drain, and why (see the module docstring)."""
    plan = _Plan(state, now)
    plan.settle_deletions()
    plan.free_unschedulable()
    needed, new_nodes = plan.pack()
    victims = plan.idle_victims(needed)
    decision = plan.decision
    for g in state.groups:
        added = new_nodes.get(g.name, 0)
        removed = victims.get(g.name, [])
        nodes = plan.nodes[g.name] + added - len(removed)
        replicas = min(max(math.ceil(nodes / g.num_of_hosts), g.min_replicas), g.max_replicas)
        wtd = plan.wtd[g.name] + [n.pod_name for n in removed]
        decision.targets[g.name] = GroupTarget(replicas=replicas, workers_to_delete=tuple(wtd))
        old = g.replicas
        if added:
            why = ", ".join(f"{_plural(n, what)} {shape}" for (what, shape), n in plan.growth[g.name].items())
            decision.reasons.append(f"scaled group {g.name} {old}→{replicas} for {why or 'pending demand'}")
        if removed:
            idle = ", ".join(f"{n.pod_name} ({n.idle_s:.0f}s)" for n in removed)
            decision.reasons.append(
                f"scaled group {g.name} {old}→{replicas}: removing idle {_plural(len(removed), 'node')} "
                f"beyond {g.idle_timeout_s:g}s: {idle}")
            decision.drain.extend(n for n in removed if n.status != "DRAINING")
        if not added and not removed and replicas != old and g.name not in plan.unavailable:
            decision.reasons.append(f"group {g.name} replicas {old}→{replicas} (clamped to min/max or pods)")
    decision.reasons.extend(f"unsatisfiable: {u}" for u in decision.unsatisfiable)
    return decision


__all__ = ["GroupShape", "decide"]
