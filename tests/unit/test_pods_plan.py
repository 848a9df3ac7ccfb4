"""plan_pods: which pods to create and delete (KubeRay's reconcilePods, §2.6), as a pure function."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from rayop.api.raycluster import RayCluster
from rayop.operator.raycluster.observed import PodView
from rayop.operator.raycluster.pods_plan import CreatePod, PodPlan, desired_replicas, plan_pods

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"
HASH = "CURRENTHASH"

# --- builders ------------------------------------------------------------------------------------------------


def group(name: str = "small", replicas: int | None = 1, *, min_replicas: int = 0, max_replicas: int = 10,
          hosts: int | None = None, suspend: bool | None = None, to_delete: list[str] | None = None) -> dict[str, Any]:
    g: dict[str, Any] = {
        "groupName": name, "minReplicas": min_replicas, "maxReplicas": max_replicas, "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-worker", "image": "ray"}]}},
    }
    if replicas is not None:
        g["replicas"] = replicas
    if hosts is not None:
        g["numOfHosts"] = hosts
    if suspend is not None:
        g["suspend"] = suspend
    if to_delete is not None:
        g["scaleStrategy"] = {"workersToDelete": to_delete}
    return g


def cluster(*groups: dict[str, Any], autoscaling: bool | None = None, recreate: bool = False,
            suspend: bool | None = None, annotations: dict[str, str] | None = None) -> RayCluster:
    spec: dict[str, Any] = {
        "headGroupSpec": {"rayStartParams": {},
                          "template": {"spec": {"containers": [{"name": "ray-head", "image": "ray"}]}}},
        "workerGroupSpecs": list(groups),
    }
    if autoscaling is not None:
        spec["enableInTreeAutoscaling"] = autoscaling
    if recreate:
        spec["upgradeStrategy"] = {"type": "Recreate"}
    if suspend is not None:
        spec["suspend"] = suspend
    meta = {"name": "rc", "namespace": "ns", "annotations": annotations or {}}
    return RayCluster.parse({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta, "spec": spec})


def pod(name: str, *, node_type: str = "worker", group: str = "small", phase: str = "Running", ready: bool = True,
        deleting: bool = False, created: str = "2024-01-01T00:00:00Z", restart_policy: str = "Always",
        ray_terminated: bool = False, replica: str | None = None, replica_index: int | None = None,
        host_index: int | None = None, recreate_hash: str | None = HASH, version: str | None = None) -> PodView:
    """A cached Ray pod reduced through PodView.from_pod, as reconciliation sees it."""
    labels = {"ray.io/cluster": "rc", "ray.io/node-type": node_type, "ray.io/group": group}
    if replica is not None:
        labels["ray.io/worker-group-replica-name"] = replica
    if replica_index is not None:
        labels["ray.io/worker-group-replica-index"] = str(replica_index)
    if host_index is not None:
        labels["ray.io/replica-host-index"] = str(host_index)
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "labels": labels, "creationTimestamp": created,
                            "annotations": {}}
    if recreate_hash is not None:
        meta["annotations"]["ray.io/upgrade-strategy-recreate-hash"] = recreate_hash
    if version is not None:
        meta["annotations"]["ray.io/kuberay-version"] = version
    if deleting:
        meta["deletionTimestamp"] = "2024-01-02T00:00:00Z"
    container = "ray-head" if node_type == "head" else "ray-worker"
    state = {"terminated": {"exitCode": 1}} if ray_terminated else {"running": {}}
    return PodView.from_pod({
        "metadata": meta,
        "spec": {"containers": [{"name": container}], "restartPolicy": restart_policy},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": container, "state": state}]},
    })


def head(name: str = "rc-head-aaaaa", **kw: Any) -> PodView:
    return pod(name, node_type="head", group="headgroup", **kw)


def workers(n: int, group_name: str = "small", prefix: str = "w") -> list[PodView]:
    return [pod(f"{prefix}{i}", group=group_name, created=f"2024-01-01T00:00:{i:02d}Z") for i in range(n)]


def replica(name: str, index: int, hosts: int, group_name: str = "tpu", **kw: Any) -> list[PodView]:
    return [pod(f"{name}-h{h}", group=group_name, replica=name, replica_index=index, host_index=h, **kw)
            for h in range(hosts)]


def plan(c: RayCluster, pods: list[PodView], **kw: Any) -> PodPlan:
    kw.setdefault("spec_hash", HASH)
    kw.setdefault("suspending", False)
    kw.setdefault("suspended", False)
    kw.setdefault("provisioned", False)
    return plan_pods(c, pods, **kw)


def deleted(p: PodPlan) -> set[str]:
    return {d.name for d in p.deletes}


def created(p: PodPlan) -> Counter[str]:
    return Counter(c.group for c in p.creates)


# --- a fresh cluster -----------------------------------------------------------------------------------------


def test_empty_cluster_creates_head_and_every_worker() -> None:
    p = plan(cluster(group("small", 2), group("big", 1)), [])
    assert created(p) == {"headgroup": 1, "small": 2, "big": 1}
    assert not p.deletes and p.error is None and not p.deferred


def test_steady_cluster_plans_nothing() -> None:
    p = plan(cluster(group("small", 2)), [head(), *workers(2)])
    assert p == PodPlan()


def test_kuberay_sample_manifest_plans_head_and_its_worker() -> None:
    body = yaml.safe_load((SAMPLES / "ray-cluster.sample.yaml").read_text())
    c = RayCluster.parse(body)
    expected = sum(desired_replicas(g) for g in c.spec.worker_group_specs or [])
    p = plan(c, [])
    assert created(p)["headgroup"] == 1
    assert sum(n for g, n in created(p).items() if g != "headgroup") == expected


# --- suspend -------------------------------------------------------------------------------------------------


def test_suspending_deletes_every_pod() -> None:
    pods = [head(), *workers(2)]
    p = plan(cluster(group("small", 2), suspend=True), pods, suspending=True)
    assert deleted(p) == {x.name for x in pods}
    assert not p.creates
    assert {d.reason for d in p.deletes} == {"DeletedPod"}
    assert p.deletes[0].message == "Deleted Pods for RayCluster ns/rc due to suspension"


def test_suspending_skips_pods_already_terminating() -> None:
    p = plan(cluster(group("small", 2)), [head(), pod("w0", deleting=True), pod("w1")], suspending=True)
    assert deleted(p) == {"rc-head-aaaaa", "w1"}


def test_suspending_finishes_even_if_spec_suspend_flipped_back() -> None:
    p = plan(cluster(group("small", 1), suspend=False), [head(), pod("w0")], suspending=True)
    assert deleted(p) == {"rc-head-aaaaa", "w0"} and not p.creates


def test_suspended_cluster_creates_nothing() -> None:
    assert plan(cluster(group("small", 2), suspend=True), [], suspended=True) == PodPlan()


def test_spec_suspend_alone_blocks_creation() -> None:
    assert plan(cluster(group("small", 2), suspend=True), []) == PodPlan()


# --- Recreate upgrade strategy -------------------------------------------------------------------------------


def test_recreate_deletes_all_pods_when_head_hash_differs() -> None:
    pods = [head(recreate_hash="OLD"), *workers(2)]
    p = plan(cluster(group("small", 2), recreate=True), pods)
    assert deleted(p) == {x.name for x in pods}
    assert not p.creates
    assert p.deletes[0].message == ("Deleted all Pods for RayCluster ns/rc due to spec change with Recreate "
                                    "upgradeStrategy")


def test_recreate_treats_missing_hash_annotation_as_a_difference() -> None:
    p = plan(cluster(group("small", 1), recreate=True), [head(recreate_hash=None), pod("w0")])
    assert deleted(p) == {"rc-head-aaaaa", "w0"}


def test_recreate_keeps_pods_when_head_hash_matches() -> None:
    p = plan(cluster(group("small", 1), recreate=True), [head(), pod("w0", recreate_hash="OLD")])
    assert p == PodPlan()


def test_hash_change_without_recreate_strategy_keeps_pods() -> None:
    assert plan(cluster(group("small", 1)), [head(recreate_hash="OLD"), pod("w0")]) == PodPlan()


def test_recreate_without_a_head_creates_the_head_instead() -> None:
    p = plan(cluster(group("small", 1), recreate=True), [pod("w0", recreate_hash="OLD")])
    assert created(p) == {"headgroup": 1} and not p.deletes


# --- head ----------------------------------------------------------------------------------------------------


def test_missing_head_is_created() -> None:
    p = plan(cluster(group("small", 1)), [pod("w0")])
    assert p.creates == [CreatePod("head", "headgroup")]


def test_terminating_head_does_not_count_as_the_head() -> None:
    p = plan(cluster(group("small", 1)), [head(deleting=True), pod("w0")])
    assert created(p) == {"headgroup": 1}


def test_failed_head_is_deleted_and_nothing_else_happens_that_pass() -> None:
    p = plan(cluster(group("small", 3)), [head(phase="Failed", ready=False)])
    assert [(d.name, d.reason, d.node_type, d.group) for d in p.deletes] == [
        ("rc-head-aaaaa", "DeletedHeadPod", "head", "headgroup")]
    assert not p.creates
    assert p.deletes[0].message.startswith("Deleted head Pod ns/rc-head-aaaaa; Pod status: Failed;")


def test_head_with_dead_ray_container_and_restart_never_is_deleted() -> None:
    p = plan(cluster(), [head(restart_policy="Never", ray_terminated=True)])
    assert deleted(p) == {"rc-head-aaaaa"}


def test_head_with_dead_ray_container_and_restart_always_is_kept() -> None:
    assert plan(cluster(), [head(restart_policy="Always", ray_terminated=True)]) == PodPlan()


def test_two_heads_is_an_error_and_nothing_is_done() -> None:
    p = plan(cluster(group("small", 2)), [head("h1"), head("h2")])
    assert p.error == "2 head pods found ['h1', 'h2']. Please delete extra head pods"
    assert not p.creates and not p.deletes


def test_provisioned_head_is_not_recreated_when_restart_is_disabled() -> None:
    c = cluster(group("small", 1), annotations={"ray.io/disable-provisioned-head-restart": "true"})
    p = plan(c, [pod("w0")], provisioned=True)
    assert "headgroup" not in created(p)


def test_head_restart_annotation_does_not_apply_before_first_provisioning() -> None:
    c = cluster(group("small", 1), annotations={"ray.io/disable-provisioned-head-restart": "true"})
    assert created(plan(c, [pod("w0")], provisioned=False)) == {"headgroup": 1}


def test_head_is_recreated_when_restart_annotation_is_not_true() -> None:
    c = cluster(annotations={"ray.io/disable-provisioned-head-restart": "false"})
    assert created(plan(c, [], provisioned=True)) == {"headgroup": 1}


def test_pending_head_expectations_skip_the_head_but_not_workers() -> None:
    p = plan(cluster(group("small", 1)), [], pending_groups=frozenset({"headgroup"}))
    assert created(p) == {"small": 1}


def test_pending_head_expectations_also_skip_the_duplicate_head_check() -> None:
    p = plan(cluster(), [head("h1"), head("h2")], pending_groups=frozenset({"headgroup"}))
    assert p.error is None


# --- single-host worker groups -------------------------------------------------------------------------------


def test_scale_up_creates_the_missing_workers() -> None:
    p = plan(cluster(group("small", 5)), [head(), *workers(2)])
    assert created(p) == {"small": 3}
    assert all(c.replica_index is None and c.replica_key is None for c in p.creates)


def test_replicas_below_min_are_raised_to_min() -> None:
    assert created(plan(cluster(group("small", 1, min_replicas=3)), [head()])) == {"small": 3}


def test_replicas_above_max_are_capped_at_max() -> None:
    assert created(plan(cluster(group("small", 9, max_replicas=2)), [head()])) == {"small": 2}


def test_missing_replicas_default_to_min() -> None:
    assert created(plan(cluster(group("small", None, min_replicas=2)), [head()])) == {"small": 2}


def test_min_above_max_uses_max() -> None:
    assert created(plan(cluster(group("small", 1, min_replicas=5, max_replicas=3)), [head()])) == {"small": 3}


def test_terminating_workers_are_not_counted_and_not_deleted_again() -> None:
    p = plan(cluster(group("small", 2)), [head(), pod("w0"), pod("w1", deleting=True)])
    assert created(p) == {"small": 1} and not p.deletes


def test_workers_of_other_groups_do_not_count() -> None:
    p = plan(cluster(group("small", 1), group("big", 1)), [head(), pod("b0", group="big"), pod("b1", group="big")])
    assert created(p) == {"small": 1}
    assert len(deleted(p)) == 1 and deleted(p) <= {"b0", "b1"}


def test_pods_of_groups_no_longer_in_the_spec_are_left_alone() -> None:
    assert plan(cluster(group("small", 1)), [head(), pod("w0"), pod("x0", group="gone")]) == PodPlan()


def test_suspended_group_deletes_all_its_pods() -> None:
    p = plan(cluster(group("small", 2, suspend=True), group("big", 1)), [head(), *workers(2), pod("b0", group="big")])
    assert deleted(p) == {"w0", "w1"}
    assert all(d.reason == "DeletedWorkerPod" for d in p.deletes)
    assert "due to worker group suspension" in p.deletes[0].message
    assert not p.creates


def test_suspended_group_is_not_recreated() -> None:
    assert plan(cluster(group("small", 2, suspend=True)), [head()]) == PodPlan()


def test_unhealthy_workers_are_deleted_without_replacement_in_the_same_pass() -> None:
    p = plan(cluster(group("small", 3)), [head(), pod("w0"), pod("w1", phase="Failed", ready=False)])
    assert deleted(p) == {"w1"}
    assert "small" not in created(p)
    assert p.deletes[0].message.startswith("Deleted worker Pod ns/w1; Pod status: Failed")


def test_unhealthy_workers_in_one_group_do_not_block_other_groups() -> None:
    p = plan(cluster(group("small", 1), group("big", 1)), [head(), pod("w0", phase="Succeeded", ready=False)])
    assert deleted(p) == {"w0"}
    assert created(p) == {"big": 1}


def test_worker_with_dead_ray_container_and_restart_never_is_replaced() -> None:
    p = plan(cluster(group("small", 1)), [head(), pod("w0", restart_policy="Never", ray_terminated=True)])
    assert deleted(p) == {"w0"}


def test_workers_to_delete_removes_named_pods_even_when_replicas_unchanged() -> None:
    p = plan(cluster(group("small", 2, to_delete=["w1"])), [head(), *workers(2)])
    assert deleted(p) == {"w1"}
    assert created(p) == {"small": 1}
    assert p.deletes[0].message == "Deleted Pod ns/w1"


def test_workers_to_delete_with_lowered_replicas_does_not_delete_anything_else() -> None:
    p = plan(cluster(group("small", 2, to_delete=["w0"])), [head(), *workers(3)])
    assert deleted(p) == {"w0"} and not p.creates


def test_workers_to_delete_ignores_names_that_do_not_exist() -> None:
    assert plan(cluster(group("small", 2, to_delete=["gone"])), [head(), *workers(2)]) == PodPlan()


def test_workers_to_delete_applies_with_autoscaling() -> None:
    p = plan(cluster(group("small", 1, to_delete=["w0"]), autoscaling=True), [head(), *workers(2)])
    assert deleted(p) == {"w0"} and not p.creates


def test_scale_down_without_autoscaling_removes_unready_pods_first() -> None:
    pods = [head(), pod("w0", created="2024-01-01T00:00:01Z"), pod("w1", phase="Pending", ready=False,
                                                                     created="2024-01-01T00:00:00Z"),
            pod("w2", ready=False, created="2024-01-01T00:00:00Z"), pod("w3", created="2024-01-01T00:00:09Z")]
    p = plan(cluster(group("small", 2)), pods)
    assert deleted(p) == {"w1", "w2"}


def test_scale_down_without_autoscaling_removes_newest_ready_pods_next() -> None:
    pods = [head(), pod("old", created="2024-01-01T00:00:00Z"), pod("mid", created="2024-01-01T10:00:00Z"),
            pod("new", created="2024-01-02T00:00:00Z")]
    p = plan(cluster(group("small", 1)), pods)
    assert deleted(p) == {"new", "mid"}
    assert all(d.reason == "DeletedWorkerPod" and d.node_type == "worker" for d in p.deletes)


def test_scale_down_to_zero_deletes_every_worker() -> None:
    assert deleted(plan(cluster(group("small", 0)), [head(), *workers(3)])) == {"w0", "w1", "w2"}


def test_autoscaling_disables_random_scale_down() -> None:
    assert plan(cluster(group("small", 1), autoscaling=True), [head(), *workers(3)]) == PodPlan()


def test_autoscaling_still_scales_up() -> None:
    assert created(plan(cluster(group("small", 3), autoscaling=True), [head()])) == {"small": 3}


def test_pending_group_expectations_skip_only_that_group() -> None:
    p = plan(cluster(group("small", 2), group("big", 2)), [head()], pending_groups=frozenset({"small"}))
    assert created(p) == {"big": 2}


# --- creation budget -----------------------------------------------------------------------------------------


def test_creation_budget_defers_the_rest() -> None:
    p = plan(cluster(group("small", 10)), [head()], max_creates=4)
    assert created(p) == {"small": 4}
    assert p.deferred


def test_creation_budget_counts_the_head() -> None:
    p = plan(cluster(group("small", 10)), [], max_creates=4)
    assert created(p) == {"headgroup": 1, "small": 3}
    assert p.deferred


def test_creation_budget_is_shared_across_groups_in_spec_order() -> None:
    p = plan(cluster(group("a", 3), group("b", 3)), [head()], max_creates=4)
    assert created(p) == {"a": 3, "b": 1} and p.deferred


def test_exhausted_budget_still_allows_deletions() -> None:
    p = plan(cluster(group("a", 5), group("b", 0)), [head(), pod("b0", group="b")], max_creates=1)
    assert deleted(p) == {"b0"} and created(p) == {"a": 1}


def test_exact_budget_is_not_deferred() -> None:
    p = plan(cluster(group("small", 3)), [head()], max_creates=3)
    assert created(p) == {"small": 3} and not p.deferred


# --- multi-host worker groups --------------------------------------------------------------------------------


def test_multihost_scale_up_creates_whole_replicas_with_host_indices() -> None:
    p = plan(cluster(group("tpu", 2, hosts=2)), [head()])
    slots = sorted((c.replica_index, c.host_index, c.replica_key) for c in p.creates)
    assert slots == [(0, 0, "tpu-0"), (0, 1, "tpu-0"), (1, 0, "tpu-1"), (1, 1, "tpu-1")]
    assert all(c.node_type == "worker" and c.group == "tpu" for c in p.creates)


def test_multihost_desired_counts_replicas_not_pods() -> None:
    g = RayCluster.parse({"metadata": {"name": "rc"}, "spec": {
        "headGroupSpec": {"template": {}}, "workerGroupSpecs": [group("tpu", 3, hosts=4)]}}).spec.worker_group_specs
    assert g is not None and desired_replicas(g[0]) == 3


def test_multihost_steady_state_plans_nothing() -> None:
    pods = [head(), *replica("tpu-a", 0, 2), *replica("tpu-b", 1, 2)]
    assert plan(cluster(group("tpu", 2, hosts=2)), pods) == PodPlan()


def test_multihost_new_replica_takes_the_lowest_free_index() -> None:
    pods = [head(), *replica("tpu-a", 0, 2), *replica("tpu-c", 2, 2)]
    p = plan(cluster(group("tpu", 4, hosts=2)), pods)
    assert sorted({c.replica_index for c in p.creates}) == [1, 3]


def test_failed_host_replaces_the_whole_multihost_replica() -> None:
    pods = [head(), *replica("tpu-a", 0, 2), pod("tpu-b-h0", group="tpu", replica="tpu-b", replica_index=1,
                                                  host_index=0),
            pod("tpu-b-h1", group="tpu", replica="tpu-b", replica_index=1, host_index=1, phase="Failed", ready=False)]
    p = plan(cluster(group("tpu", 2, hosts=2)), pods)
    assert deleted(p) == {"tpu-b-h0", "tpu-b-h1"}
    assert not p.creates  # the replacement follows once the deletions are observed
    assert "with an unhealthy host" in p.deletes[0].message


def test_incomplete_multihost_replica_is_deleted() -> None:
    pods = [head(), *replica("tpu-a", 0, 2), *replica("tpu-b", 1, 2)[:1]]
    p = plan(cluster(group("tpu", 2, hosts=2)), pods)
    assert deleted(p) == {"tpu-b-h0"}
    assert "incomplete replica group tpu-b (1/2 hosts)" in p.deletes[0].message


def test_multihost_replica_with_a_terminating_host_is_incomplete() -> None:
    pods = [head(), pod("h0", group="tpu", replica="tpu-a", replica_index=0, host_index=0),
            pod("h1", group="tpu", replica="tpu-a", replica_index=0, host_index=1, deleting=True)]
    assert deleted(plan(cluster(group("tpu", 1, hosts=2)), pods)) == {"h0"}


def test_multihost_pod_without_replica_label_is_deleted() -> None:
    p = plan(cluster(group("tpu", 0, hosts=2)), [head(), pod("stray", group="tpu")])
    assert deleted(p) == {"stray"}


def test_workers_to_delete_removes_the_whole_multihost_replica() -> None:
    pods = [head(), *replica("tpu-a", 0, 2), *replica("tpu-b", 1, 2)]
    p = plan(cluster(group("tpu", 1, hosts=2, to_delete=["tpu-a-h1"])), pods)
    assert deleted(p) == {"tpu-a-h0", "tpu-a-h1"}
    assert not p.creates


def test_multihost_scale_down_without_autoscaling_removes_highest_replica_index() -> None:
    pods = [head(), *replica("tpu-a", 0, 2), *replica("tpu-b", 1, 2), *replica("tpu-c", 2, 2)]
    p = plan(cluster(group("tpu", 1, hosts=2)), pods)
    assert deleted(p) == {"tpu-b-h0", "tpu-b-h1", "tpu-c-h0", "tpu-c-h1"}


def test_multihost_autoscaling_disables_scale_down() -> None:
    pods = [head(), *replica("tpu-a", 0, 2), *replica("tpu-b", 1, 2)]
    assert plan(cluster(group("tpu", 1, hosts=2), autoscaling=True), pods) == PodPlan()


def test_suspended_multihost_group_deletes_every_replica() -> None:
    pods = [head(), *replica("tpu-a", 0, 2), *replica("tpu-b", 1, 2)]
    p = plan(cluster(group("tpu", 2, hosts=2, suspend=True)), pods)
    assert len(deleted(p)) == 4 and not p.creates


def test_creation_budget_never_splits_a_multihost_replica() -> None:
    p = plan(cluster(group("tpu", 3, hosts=4)), [head()], max_creates=10)
    assert len(p.creates) == 8
    assert Counter(c.replica_key for c in p.creates) == {"tpu-0": 4, "tpu-1": 4}
    assert p.deferred


def test_budget_left_smaller_than_a_replica_defers_the_whole_group() -> None:
    p = plan(cluster(group("small", 1), group("tpu", 1, hosts=4)), [head()], max_creates=3)
    assert created(p) == {"small": 1} and p.deferred


def test_replica_larger_than_the_whole_budget_is_created_whole_by_a_pass_that_created_nothing_else() -> None:
    p = plan(cluster(group("tpu", 2, hosts=4)), [head()], max_creates=3)
    assert Counter(c.replica_key for c in p.creates) == {"tpu-0": 4}
    assert p.deferred  # the second replica waits for the next pass


def test_replica_larger_than_the_whole_budget_ends_the_pass_for_later_groups() -> None:
    p = plan(cluster(group("tpu", 1, hosts=4), group("small", 2)), [head()], max_creates=3)
    assert created(p) == {"tpu": 4} and p.deferred


def tpu_v6e_256() -> RayCluster:
    """KubeRay's 16x16 v6e sample: one replica of 64 hosts, more than the default budget of 50 creations a pass."""
    return RayCluster.parse(yaml.safe_load((SAMPLES / "ray-cluster.tpu-v6e-256-multihost.yaml").read_text()))


def test_kuberay_v6e_256_sample_creates_the_head_first_and_defers_its_64_host_replica() -> None:
    p = plan(tpu_v6e_256(), [])
    assert created(p) == {"headgroup": 1} and p.deferred


def test_kuberay_v6e_256_sample_gets_its_whole_64_host_replica_once_the_head_exists() -> None:
    c = tpu_v6e_256()
    p = plan(c, [head()])
    assert [(x.group, x.replica_index, x.replica_key) for x in p.creates] == [("tpu-group", 0, "tpu-group-0")] * 64
    assert sorted(x.host_index for x in p.creates) == list(range(64))
    assert not p.deferred


def test_pending_multihost_group_is_skipped() -> None:
    assert plan(cluster(group("tpu", 2, hosts=2)), [head()], pending_groups=frozenset({"tpu"})) == PodPlan()


def test_recreate_adopts_pods_of_another_operator_version_by_refreshing_their_hash() -> None:
    pods = [head(recreate_hash="KUBERAY-HASH", version="v1.5.0"), pod("w0", version="v1.5.0")]
    p = plan(cluster(group("small", 1), recreate=True), pods, operator_version="rayop-0.1.0")
    assert p.deletes == []
    assert sorted(p.refresh_hash) == ["rc-head-aaaaa", "w0"]


def test_recreate_still_applies_to_pods_of_our_own_version() -> None:
    pods = [head(recreate_hash="OLD", version="rayop-0.1.0"), pod("w0", version="rayop-0.1.0")]
    p = plan(cluster(group("small", 1), recreate=True), pods, operator_version="rayop-0.1.0")
    assert deleted(p) == {"rc-head-aaaaa", "w0"}


def test_random_pod_delete_scales_down_even_with_autoscaling() -> None:
    p = plan(cluster(group("small", 1), autoscaling=True), [head(), *workers(3)], random_pod_delete=True)
    assert len(p.deletes) == 2
