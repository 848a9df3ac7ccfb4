"""The pod-group engine: "a named group of N replicas of M hosts", as Ray worker groups and Kubeflow replica types
use it (pure; members are plain fakes of the Member protocol)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from rayop.operator.runtime.podgroups import (
    Cause,
    CreateBudget,
    Creation,
    GroupPlan,
    GroupSpec,
    Naming,
    plan_group,
    plan_groups,
    replica_key,
)


@dataclass(frozen=True)
class Pod:
    name: str
    replica_name: str | None = None
    replica_index: int | None = None
    host_index: int | None = None
    running_and_ready: bool = True
    deleting: bool = False
    created: str = "2024-01-01T00:00:00Z"
    broken: bool = False

    @property
    def uid(self) -> str:
        return f"uid-{self.name}"

    def should_delete(self) -> bool:
        return self.broken


def pool(n: int, prefix: str = "w") -> list[Pod]:
    return [Pod(f"{prefix}{i}", created=f"2024-01-01T00:00:{i:02d}Z") for i in range(n)]


def slice_(name: str, index: int, hosts: int, *, broken: bool = False) -> list[Pod]:
    """One multi-host replica with a random-suffix name (KubeRay)."""
    return [Pod(f"{name}-h{h}", replica_name=name, replica_index=index, host_index=h, broken=broken)
            for h in range(hosts)]


def indexed(job_role: str, *indices: int, broken: bool = False, deleting: bool = False) -> list[Pod]:
    """Kubeflow pods: ``{job}-{role}-{i}``, replica index label i."""
    return [Pod(replica_key(job_role, i), replica_index=i, host_index=0, broken=broken, deleting=deleting)
            for i in indices]


def plan(spec: GroupSpec, members: list[Pod], limit: int = 50) -> GroupPlan[Pod]:
    return plan_group(spec, members, CreateBudget(limit))


def causes(p: GroupPlan[Pod]) -> dict[str, Cause]:
    return {r.member.name: r.cause for r in p.deletes}


def keys(p: GroupPlan[Pod]) -> Counter[str | None]:
    return Counter(c.replica_key for c in p.creates)


POOL = GroupSpec("small", 3)
TPU = GroupSpec("tpu", 2, hosts=2)
WORKER = GroupSpec("mnist-worker", 3, naming=Naming.INDEXED)

# --- the budget -----------------------------------------------------------------------------------------------


def test_budget_grants_single_creations_up_to_what_is_left() -> None:
    b = CreateBudget(5)
    b.charge(1)
    assert b.take_up_to(10) == 4 and b.left == 0


def test_budget_grants_a_whole_replica_or_nothing() -> None:
    b = CreateBudget(5)
    assert b.take(4) and not b.take(4) and b.left == 1


def test_an_untouched_budget_grants_one_replica_larger_than_itself_and_is_then_used_up() -> None:
    b = CreateBudget(50)
    assert b.take(64) and b.left == 0 and not b.take(1) and b.take_up_to(5) == 0


def test_a_budget_already_spent_refuses_a_replica_larger_than_what_is_left() -> None:
    b = CreateBudget(50)
    b.charge(1)
    assert not b.take(64) and b.left == 49


def test_a_zero_budget_grants_nothing() -> None:
    assert not CreateBudget(0).take(2)


# --- interchangeable single-host pods (KubeRay) ---------------------------------------------------------------


def test_pool_creates_anonymous_members_for_the_missing_count() -> None:
    p = plan(POOL, pool(1))
    assert p.creates == [Creation(), Creation()] and not p.deletes and not p.deferred


def test_pool_deletes_unhealthy_members_alone_and_creates_nothing_in_that_pass() -> None:
    members = [*pool(1), Pod("bad", broken=True), Pod("named")]
    p = plan(replace(POOL, delete_names=frozenset({"named"})), members)
    assert causes(p) == {"bad": Cause.UNHEALTHY} and not p.creates


def test_pool_replaces_explicit_deletions_in_the_same_pass() -> None:
    p = plan(replace(POOL, replicas=2, delete_names=frozenset({"w0"})), pool(2))
    assert causes(p) == {"w0": Cause.EXPLICIT} and len(p.creates) == 1


def test_pool_scale_down_takes_unready_then_newest_members() -> None:
    members = [*pool(3), Pod("unready", running_and_ready=False)]
    p = plan(replace(POOL, replicas=2), members)
    assert [r.member.name for r in p.deletes] == ["unready", "w2"]
    assert {r.cause for r in p.deletes} == {Cause.SCALE_DOWN}


def test_pool_without_scale_down_keeps_surplus_members() -> None:
    assert plan(replace(POOL, replicas=1, scale_down=False), pool(3)) == GroupPlan()


def test_terminating_members_are_neither_counted_nor_deleted_again() -> None:
    p = plan(POOL, [*pool(2), Pod("going", deleting=True)])
    assert len(p.creates) == 1 and not p.deletes


def test_suspended_group_deletes_every_live_member() -> None:
    p = plan(replace(POOL, suspend=True), [*pool(2), Pod("going", deleting=True)])
    assert causes(p) == {"w0": Cause.SUSPENDED, "w1": Cause.SUSPENDED} and not p.creates


# --- multi-host replicas (KubeRay slices) ---------------------------------------------------------------------


def test_replicas_are_created_whole_with_host_indices() -> None:
    p = plan(TPU, [])
    assert [(c.replica_index, c.host_index, c.replica_key) for c in p.creates] == [
        (0, 0, "tpu-0"), (0, 1, "tpu-0"), (1, 0, "tpu-1"), (1, 1, "tpu-1")]


def test_a_new_replica_takes_the_lowest_free_index() -> None:
    p = plan(replace(TPU, replicas=3), [*slice_("tpu-a", 0, 2), *slice_("tpu-c", 2, 2)])
    assert keys(p) == {"tpu-1": 2}


def test_a_random_suffix_group_counts_replicas_and_leaves_sparse_indices() -> None:
    assert plan(TPU, [*slice_("tpu-a", 0, 2), *slice_("tpu-c", 2, 2)]) == GroupPlan()


def test_one_unhealthy_host_deletes_its_whole_replica() -> None:
    members = [*slice_("tpu-a", 0, 2), Pod("tpu-b-h0", "tpu-b", 1, 0), Pod("tpu-b-h1", "tpu-b", 1, 1, broken=True)]
    p = plan(TPU, members)
    assert causes(p) == {"tpu-b-h0": Cause.UNHEALTHY, "tpu-b-h1": Cause.UNHEALTHY}
    assert {r.replica for r in p.deletes} == {"tpu-b"}


def test_an_incomplete_replica_is_deleted_with_its_size() -> None:
    p = plan(TPU, [*slice_("tpu-a", 0, 2), *slice_("tpu-b", 1, 2)[:1]])
    assert [(r.member.name, r.cause, r.replica, r.size) for r in p.deletes] == [
        ("tpu-b-h0", Cause.INCOMPLETE, "tpu-b", 1)]


def test_a_member_without_a_replica_name_is_an_incomplete_replica() -> None:
    p = plan(TPU, [Pod("stray")])
    assert [(r.cause, r.replica) for r in p.deletes] == [(Cause.INCOMPLETE, "orphan-stray")]


def test_an_explicit_deletion_takes_the_whole_replica() -> None:
    p = plan(replace(TPU, delete_names=frozenset({"tpu-a-h1"})), [*slice_("tpu-a", 0, 2), *slice_("tpu-b", 1, 2)])
    assert causes(p) == {"tpu-a-h0": Cause.EXPLICIT, "tpu-a-h1": Cause.EXPLICIT}


def test_a_group_with_replica_deletions_creates_nothing_in_that_pass() -> None:
    p = plan(replace(TPU, replicas=3), [*slice_("tpu-a", 0, 2), *slice_("tpu-b", 1, 2, broken=True)])
    assert p.deletes and not p.creates and not p.deferred


def test_replica_scale_down_removes_the_highest_indices_first() -> None:
    members = [*slice_("tpu-a", 0, 2), *slice_("tpu-b", 1, 2), *slice_("tpu-c", 2, 2)]
    p = plan(replace(TPU, replicas=1), members)
    assert [r.replica for r in p.deletes] == ["tpu-c", "tpu-c", "tpu-b", "tpu-b"]


def test_the_budget_never_splits_a_replica() -> None:
    p = plan(replace(TPU, replicas=3, hosts=4), [], limit=10)
    assert keys(p) == {"tpu-0": 4, "tpu-1": 4} and p.deferred


# --- indexed stable names (Kubeflow) --------------------------------------------------------------------------


def test_indexed_group_creates_indices_zero_to_n_under_stable_keys() -> None:
    p = plan(WORKER, [])
    assert [(c.replica_index, c.replica_key) for c in p.creates] == [
        (0, "mnist-worker-0"), (1, "mnist-worker-1"), (2, "mnist-worker-2")]


def test_indexed_group_recreates_a_missing_index_under_the_same_index() -> None:
    p = plan(WORKER, indexed("mnist-worker", 0, 2))
    assert [(c.replica_index, c.replica_key) for c in p.creates] == [(1, "mnist-worker-1")]


def test_indexed_replica_i_is_always_index_i_even_when_higher_indices_exist() -> None:
    p = plan(replace(WORKER, replicas=2), indexed("mnist-worker", 0, 2))
    assert keys(p) == {"mnist-worker-1": 1}
    assert causes(p) == {"mnist-worker-2": Cause.SCALE_DOWN}


def test_indexed_scale_down_deletes_indices_at_or_above_the_count_highest_first() -> None:
    p = plan(replace(WORKER, replicas=1), indexed("mnist-worker", 0, 1, 2))
    assert [r.member.name for r in p.deletes] == ["mnist-worker-2", "mnist-worker-1"] and not p.creates


def test_indexed_group_without_scale_down_keeps_high_indices() -> None:
    assert plan(replace(WORKER, replicas=1, scale_down=False), indexed("mnist-worker", 0, 1)) == GroupPlan()


def test_a_failed_indexed_replica_comes_back_under_its_own_index_once_it_is_gone() -> None:
    first = plan(WORKER, [*indexed("mnist-worker", 0, 2), *indexed("mnist-worker", 1, broken=True)])
    assert causes(first) == {"mnist-worker-1": Cause.UNHEALTHY} and not first.creates
    terminating = plan(WORKER, [*indexed("mnist-worker", 0, 2), *indexed("mnist-worker", 1, deleting=True)])
    assert terminating == GroupPlan()  # the stable name is still taken by the terminating pod
    gone = plan(WORKER, indexed("mnist-worker", 0, 2))
    assert [c.replica_key for c in gone.creates] == ["mnist-worker-1"]


def test_an_indexed_member_without_an_index_is_deleted() -> None:
    p = plan(WORKER, [*indexed("mnist-worker", 0, 1, 2), Pod("mnist-worker-x")])
    assert causes(p) == {"mnist-worker-x": Cause.INCOMPLETE}


def test_indexed_multi_host_replicas_group_their_hosts_by_index() -> None:
    spec = GroupSpec("job-worker", 2, hosts=2, naming=Naming.INDEXED)
    members = [Pod(f"job-worker-0-{h}", replica_index=0, host_index=h) for h in range(2)]
    assert keys(plan(spec, members)) == {"job-worker-1": 2}


# --- several groups of one owner ------------------------------------------------------------------------------


def test_groups_share_the_budget_in_order() -> None:
    specs = [GroupSpec("a", 3), GroupSpec("b", 3)]
    nothing: dict[str, list[Pod]] = {}
    plans = plan_groups(specs, nothing, CreateBudget(4))
    assert [(s.name, len(p.creates), p.deferred) for s, p in plans] == [("a", 3, False), ("b", 1, True)]


def test_groups_with_pending_expectations_are_skipped() -> None:
    specs = [GroupSpec("a", 2), GroupSpec("b", 2)]
    plans = plan_groups(specs, {"a": pool(1)}, CreateBudget(50), pending=frozenset({"a"}))
    assert [(s.name, len(p.creates)) for s, p in plans] == [("b", 2)]
