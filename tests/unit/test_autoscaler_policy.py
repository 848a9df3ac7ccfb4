"""The pure planner: one behaviour per test (rules as numbered in rayop.autoscaler.policy)."""

from __future__ import annotations

import pytest

from rayop.autoscaler.policy import decide
from rayop.autoscaler.state import ClusterState, GroupShape, PlacementGroupDemand, RayNode, WorkerPod

pytestmark = pytest.mark.unit
NOW = 1_000_000.0


def grp(name: str, index: int = 0, *, cpu: float = 1, gpu: float = 0, mn: int = 0, mx: int = 10, replicas: int = 0,
        hosts: int = 1, idle: float = 60, priority: int = 0, wtd: tuple[str, ...] = (), **custom: float) -> GroupShape:
    res = {"CPU": cpu, **({"GPU": gpu} if gpu else {}), **custom}
    return GroupShape(name=name, index=index, resources=res, min_replicas=mn, max_replicas=mx, replicas=replicas,
                      num_of_hosts=hosts, idle_timeout_s=idle, priority=priority, workers_to_delete=wtd)


def node(pod: str, group: str, *, total: dict[str, float] | None = None, free: dict[str, float] | None = None,
         idle: float = 0, busy: bool = False, status: str = "RUNNING") -> RayNode:
    total = total or {"CPU": 1}
    return RayNode(node_id=f"id-{pod}", pod_name=pod, group=group, total=total,
                   available=dict(total if free is None else free), idle_s=idle, busy=busy, status=status)


def head(cpu: float = 0) -> RayNode:
    return RayNode(node_id="id-head", pod_name="head", group="headgroup", total={"CPU": cpu},
                   available={"CPU": cpu}, is_head=True)


def pods(*names_groups: tuple[str, str], **kw: object) -> tuple[WorkerPod, ...]:
    return tuple(WorkerPod(name=n, group=g, **kw) for n, g in names_groups)  # type: ignore[arg-type]


def state(groups: list[GroupShape], **kw: object) -> ClusterState:
    return ClusterState(groups=tuple(groups), **kw)  # type: ignore[arg-type]


def replicas(decision, name: str) -> int:  # type: ignore[no-untyped-def]
    return int(decision.targets[name].replicas)


# --- scale up ------------------------------------------------------------------------------------------------


def test_no_demand_no_change() -> None:
    d = decide(state([grp("cpu")], nodes=(head(),)), NOW)
    assert replicas(d, "cpu") == 0 and d.changed_groups(state([grp("cpu")])) == []


def test_demand_fitting_free_capacity_does_not_scale() -> None:
    s = state([grp("cpu", cpu=4, replicas=1)], nodes=(head(), node("w1", "cpu", total={"CPU": 4}, free={"CPU": 3})),
              pods=pods(("w1", "cpu")), pending_tasks=({"CPU": 1},) * 3)
    assert replicas(decide(s, NOW), "cpu") == 1


def test_demand_beyond_free_capacity_adds_nodes_bin_packed() -> None:
    s = state([grp("cpu", cpu=2)], nodes=(head(),), pending_tasks=({"CPU": 1},) * 5)
    assert replicas(decide(s, NOW), "cpu") == 3


def test_reason_names_group_old_new_and_demand() -> None:
    s = state([grp("cpu"), grp("gpu", 1, gpu=1)], pending_tasks=({"GPU": 1},) * 2)
    d = decide(s, NOW)
    assert "scaled group gpu 0→2 for 2 pending tasks {GPU: 1}" in d.reasons


def test_gpu_demand_scales_gpu_group_not_cpu_group() -> None:
    s = state([grp("cpu", cpu=8), grp("gpu", 1, cpu=8, gpu=1)], pending_tasks=({"CPU": 1, "GPU": 1},))
    d = decide(s, NOW)
    assert (replicas(d, "cpu"), replicas(d, "gpu")) == (0, 1)


def test_cpu_demand_prefers_group_without_accelerators() -> None:
    s = state([grp("gpu", 0, cpu=4, gpu=1), grp("cpu", 1, cpu=4)], pending_tasks=({"CPU": 1},))
    d = decide(s, NOW)
    assert (replicas(d, "cpu"), replicas(d, "gpu")) == (1, 0)


def test_cheapest_fitting_group_is_the_smallest() -> None:
    s = state([grp("big", 0, cpu=16), grp("small", 1, cpu=2)], pending_tasks=({"CPU": 1},))
    d = decide(s, NOW)
    assert (replicas(d, "big"), replicas(d, "small")) == (0, 1)


def test_higher_priority_group_wins_over_cheaper() -> None:
    s = state([grp("big", 0, cpu=16, priority=5), grp("small", 1, cpu=2)], pending_tasks=({"CPU": 1},))
    d = decide(s, NOW)
    assert (replicas(d, "big"), replicas(d, "small")) == (1, 0)


def test_scale_up_capped_at_max_replicas() -> None:
    s = state([grp("cpu", mx=2)], pending_tasks=({"CPU": 1},) * 5)
    d = decide(s, NOW)
    assert replicas(d, "cpu") == 2
    assert any("3 pending tasks {CPU: 1}" in u and "maxReplicas" in u for u in d.unsatisfiable)


def test_full_group_spills_to_next_fitting_group() -> None:
    s = state([grp("a", 0, cpu=1, mx=1), grp("b", 1, cpu=2)], pending_tasks=({"CPU": 1},) * 3)
    d = decide(s, NOW)
    assert (replicas(d, "a"), replicas(d, "b")) == (1, 1)


def test_conservative_upscaling_at_most_doubles_per_step() -> None:
    nodes = (head(), node("w1", "cpu", free={"CPU": 0}), node("w2", "cpu", free={"CPU": 0}))
    s = state([grp("cpu", replicas=2)], nodes=nodes, pods=pods(("w1", "cpu"), ("w2", "cpu")),
              pending_tasks=({"CPU": 1},) * 10, upscaling_mode="Conservative")
    d = decide(s, NOW)
    assert replicas(d, "cpu") == 4
    assert any("deferred" in r for r in d.reasons) and not d.unsatisfiable


def test_conservative_upscaling_from_zero_adds_one() -> None:
    s = state([grp("cpu")], pending_tasks=({"CPU": 1},) * 10, upscaling_mode="Conservative")
    assert replicas(decide(s, NOW), "cpu") == 1


@pytest.mark.parametrize("mode", ["Default", "Aggressive"])
def test_default_and_aggressive_upscaling_are_unlimited(mode: str) -> None:
    s = state([grp("cpu")], pending_tasks=({"CPU": 1},) * 10, upscaling_mode=mode)
    assert replicas(decide(s, NOW), "cpu") == 10


def test_pods_asked_for_but_not_yet_ray_nodes_absorb_demand() -> None:
    """Never double-scale: replicas already raised (pods pending) count as capacity, also after a restart."""
    s = state([grp("cpu", replicas=2)], nodes=(head(),), pods=pods(("w1", "cpu")), pending_tasks=({"CPU": 1},) * 2)
    d = decide(s, NOW)
    assert replicas(d, "cpu") == 2 and not any("scaled" in r for r in d.reasons)


def test_multi_host_group_scales_by_whole_replicas() -> None:
    s = state([grp("tpu", hosts=4, TPU=4)], pending_tasks=({"TPU": 4},) * 5)
    d = decide(s, NOW)
    assert replicas(d, "tpu") == 2  # 5 hosts needed -> 2 replicas of 4 hosts


def test_request_resources_counts_against_totals_not_free() -> None:
    busy = node("w1", "cpu", free={"CPU": 0})
    s = state([grp("cpu", replicas=1)], nodes=(head(), busy), pods=pods(("w1", "cpu")),
              constraints=({"CPU": 1},) * 3)
    assert replicas(decide(s, NOW), "cpu") == 3


def test_request_resources_already_met_does_nothing() -> None:
    s = state([grp("cpu", replicas=1, cpu=4)], nodes=(head(), node("w1", "cpu", total={"CPU": 4})),
              pods=pods(("w1", "cpu")), constraints=({"CPU": 1},) * 4)
    assert replicas(decide(s, NOW), "cpu") == 1


def test_strict_spread_needs_distinct_nodes() -> None:
    pg = PlacementGroupDemand(bundles=({"CPU": 1},) * 3, strategy="STRICT_SPREAD", name="pg1")
    s = state([grp("cpu", cpu=4)], placement_groups=(pg,))
    assert replicas(decide(s, NOW), "cpu") == 3


def test_strict_spread_uses_free_existing_node_once() -> None:
    pg = PlacementGroupDemand(bundles=({"CPU": 1},) * 3, strategy="STRICT_SPREAD")
    s = state([grp("cpu", cpu=4, replicas=1)], nodes=(head(), node("w1", "cpu", total={"CPU": 4})),
              pods=pods(("w1", "cpu")), placement_groups=(pg,))
    assert replicas(decide(s, NOW), "cpu") == 3


def test_strict_pack_bundles_share_one_node() -> None:
    pg = PlacementGroupDemand(bundles=({"CPU": 1},) * 3, strategy="STRICT_PACK")
    s = state([grp("small", 0, cpu=2), grp("big", 1, cpu=4)], placement_groups=(pg,))
    d = decide(s, NOW)
    assert (replicas(d, "small"), replicas(d, "big")) == (0, 1)


def test_pack_placement_group_bin_packs_across_nodes() -> None:
    pg = PlacementGroupDemand(bundles=({"CPU": 1},) * 3, strategy="PACK")
    s = state([grp("small", cpu=2)], placement_groups=(pg,))
    assert replicas(decide(s, NOW), "small") == 2


def test_placement_group_is_all_or_nothing() -> None:
    pg = PlacementGroupDemand(bundles=({"CPU": 1},) * 3, strategy="STRICT_SPREAD", name="pg")
    s = state([grp("cpu", mx=2)], placement_groups=(pg,))
    d = decide(s, NOW)
    assert replicas(d, "cpu") == 0 and d.unsatisfiable


def test_demand_no_group_fits_is_reported_not_scaled() -> None:
    s = state([grp("cpu", cpu=4)], pending_tasks=({"GPU": 1},))
    d = decide(s, NOW)
    assert replicas(d, "cpu") == 0
    assert d.unsatisfiable == ["1 pending task {GPU: 1}: no worker group has nodes that fit"]


# --- unschedulable --------------------------------------------------------------------------------------------


def test_unschedulable_within_bound_keeps_waiting() -> None:
    s = state([grp("gpu", gpu=1, replicas=1), grp("gpu2", 1, gpu=1)],
              pods=pods(("g1", "gpu"), unschedulable_since=NOW - 10), pending_tasks=({"GPU": 1},))
    d = decide(s, NOW)
    assert (replicas(d, "gpu"), replicas(d, "gpu2")) == (1, 0) and d.targets["gpu"].workers_to_delete == ()


def test_unschedulable_beyond_bound_frees_request_and_tries_other_group() -> None:
    s = state([grp("gpu", gpu=1, replicas=1), grp("gpu2", 1, gpu=1)],
              pods=pods(("g1", "gpu"), unschedulable_since=NOW - 120), pending_tasks=({"GPU": 1},))
    d = decide(s, NOW)
    assert d.targets["gpu"].replicas == 0 and d.targets["gpu"].workers_to_delete == ("g1",)
    assert replicas(d, "gpu2") == 1
    assert d.blocked_until["gpu"] == NOW + s.block_s
    assert any("unschedulable" in r for r in d.reasons)


def test_blocked_group_gets_no_new_nodes_until_block_expires() -> None:
    groups = [grp("gpu", gpu=1), grp("gpu2", 1, gpu=1, priority=-1)]
    blocked = state(groups, pending_tasks=({"GPU": 1},), blocked_until={"gpu": NOW + 5})
    d = decide(blocked, NOW)
    assert (replicas(d, "gpu"), replicas(d, "gpu2")) == (0, 1)
    d = decide(blocked, NOW + 10)
    assert (replicas(d, "gpu"), replicas(d, "gpu2")) == (1, 0) and d.blocked_until == {}


def test_unschedulable_with_no_alternative_is_reported() -> None:
    s = state([grp("gpu", gpu=1, replicas=1)], pods=pods(("g1", "gpu"), unschedulable_since=NOW - 120),
              pending_tasks=({"GPU": 1},))
    d = decide(s, NOW)
    assert replicas(d, "gpu") == 0 and any("unschedulable" in u for u in d.unsatisfiable)


# --- scale down -----------------------------------------------------------------------------------------------


def test_idle_node_beyond_timeout_is_drained_and_removed() -> None:
    s = state([grp("cpu", replicas=1)], nodes=(head(), node("w1", "cpu", idle=61)), pods=pods(("w1", "cpu")))
    d = decide(s, NOW)
    assert d.targets["cpu"].replicas == 0 and d.targets["cpu"].workers_to_delete == ("w1",)
    assert [n.node_id for n in d.drain] == ["id-w1"]


def test_idle_node_within_timeout_is_kept() -> None:
    s = state([grp("cpu", replicas=1, idle=120)], nodes=(head(), node("w1", "cpu", idle=61)),
              pods=pods(("w1", "cpu")))
    assert replicas(decide(s, NOW), "cpu") == 1


def test_idle_scale_down_stops_at_min_replicas() -> None:
    nodes = (head(), node("w1", "cpu", idle=100), node("w2", "cpu", idle=200), node("w3", "cpu", idle=300))
    s = state([grp("cpu", replicas=3, mn=2)], nodes=nodes, pods=pods(("w1", "cpu"), ("w2", "cpu"), ("w3", "cpu")))
    d = decide(s, NOW)
    assert d.targets["cpu"].replicas == 2 and d.targets["cpu"].workers_to_delete == ("w3",)


def test_node_holding_running_work_is_never_removed() -> None:
    """Tasks, actors (detached too) and placement-group bundles all make GCS report the node busy."""
    s = state([grp("cpu", replicas=1)], nodes=(head(), node("w1", "cpu", idle=1000, busy=True)),
              pods=pods(("w1", "cpu")))
    d = decide(s, NOW)
    assert replicas(d, "cpu") == 1 and not d.drain


def test_idle_node_needed_by_pending_demand_is_kept() -> None:
    s = state([grp("cpu", replicas=1)], nodes=(head(), node("w1", "cpu", idle=1000)), pods=pods(("w1", "cpu")),
              pending_tasks=({"CPU": 1},))
    assert replicas(decide(s, NOW), "cpu") == 1


def test_idle_node_needed_by_request_resources_is_kept() -> None:
    s = state([grp("cpu", replicas=1)], nodes=(head(), node("w1", "cpu", idle=1000)), pods=pods(("w1", "cpu")),
              constraints=({"CPU": 1},))
    assert replicas(decide(s, NOW), "cpu") == 1


def test_per_group_idle_timeout_is_used() -> None:
    nodes = (head(), node("a1", "a", idle=40), node("b1", "b", idle=40))
    s = state([grp("a", replicas=1, idle=30), grp("b", 1, replicas=1, idle=60)], nodes=nodes,
              pods=pods(("a1", "a"), ("b1", "b")))
    d = decide(s, NOW)
    assert (replicas(d, "a"), replicas(d, "b")) == (0, 1)


def test_multi_host_replica_removed_whole_only_when_all_hosts_idle() -> None:
    g = grp("tpu", replicas=2, hosts=2)
    nodes = (head(), node("r1a", "tpu", idle=100), node("r1b", "tpu", idle=100), node("r2a", "tpu", idle=100),
             node("r2b", "tpu", idle=1))
    ps = (WorkerPod("r1a", "tpu", replica="r1"), WorkerPod("r1b", "tpu", replica="r1"),
          WorkerPod("r2a", "tpu", replica="r2"), WorkerPod("r2b", "tpu", replica="r2"))
    d = decide(state([g], nodes=nodes, pods=ps), NOW)
    assert d.targets["tpu"].replicas == 1 and d.targets["tpu"].workers_to_delete == ("r1a", "r1b")


def test_already_draining_idle_node_is_removed_without_draining_again() -> None:
    """After a restart between drain and patch, the node shows DRAINING; it is removed, not drained twice."""
    s = state([grp("cpu", replicas=1)], nodes=(head(), node("w1", "cpu", idle=61, status="DRAINING")),
              pods=pods(("w1", "cpu")))
    d = decide(s, NOW)
    assert d.targets["cpu"].workers_to_delete == ("w1",) and d.drain == []


# --- workersToDelete bookkeeping ------------------------------------------------------------------------------


def test_group_with_pending_deletions_is_not_scaled() -> None:
    s = state([grp("cpu", replicas=0, wtd=("w1",))], pods=pods(("w1", "cpu")), pending_tasks=({"CPU": 1},) * 3)
    d = decide(s, NOW)
    assert d.targets["cpu"].replicas == 0 and d.targets["cpu"].workers_to_delete == ("w1",)


def test_workers_to_delete_cleared_once_pods_are_gone() -> None:
    s = state([grp("cpu", replicas=0, wtd=("w1",))], nodes=(head(),))
    d = decide(s, NOW)
    assert d.targets["cpu"].workers_to_delete == () and d.changed_groups(s) == ["cpu"]


def test_terminating_pods_count_as_gone() -> None:
    s = state([grp("cpu", replicas=0, wtd=("w1",))], pods=pods(("w1", "cpu"), deleting=True))
    assert decide(s, NOW).targets["cpu"].workers_to_delete == ()


def test_replicas_below_min_are_raised_to_min() -> None:
    s = state([grp("cpu", replicas=0, mn=2)])
    assert replicas(decide(s, NOW), "cpu") == 2
