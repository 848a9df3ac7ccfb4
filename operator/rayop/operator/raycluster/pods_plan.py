"""Which pods to create and delete, decided from the spec and the observed pods alone (no I/O).

This is KubeRay's ``reconcilePods`` as a pure function: suspend, Recreate upgrades, the head, then every worker
group (group suspend, multi-host replica groups, unhealthy pods, ``workersToDelete``, replicas clamped to
[min, max]).  Two deliberate improvements: scale-down without autoscaling removes pending/unready pods first and
then the newest ones (KubeRay removes "the first listed"), and the number of creations per pass is bounded so one
huge scale-up cannot starve other clusters.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rayop.api import labels as L
from rayop.api.raycluster import RayCluster, WorkerGroupSpec
from rayop.operator.builders import resources

from .observed import PodView


@dataclass(frozen=True)
class CreatePod:
    """Create one pod of ``group`` (``headgroup`` for the head); multi-host pods name their replica slot."""

    node_type: str
    group: str
    replica_index: int | None = None
    host_index: int | None = None
    replica_key: str | None = None


@dataclass(frozen=True)
class DeletePod:
    """Delete one pod; ``reason``/``message`` become the Kubernetes event."""

    name: str
    uid: str
    node_type: str
    group: str
    reason: str
    message: str


@dataclass
class PodPlan:
    """The outcome of one planning pass."""

    creates: list[CreatePod] = field(default_factory=list)
    deletes: list[DeletePod] = field(default_factory=list)
    error: str | None = None
    #: Groups (or "headgroup") that still want more pods than this pass's budget allowed.
    deferred: bool = False
    #: Pods created by another operator version: refresh their hash annotations instead of recreating them.
    refresh_hash: list[str] = field(default_factory=list)


def desired_replicas(group: WorkerGroupSpec) -> int:
    """Replica groups (not pods) a group wants: KubeRay's clamped desired pods divided by numOfHosts."""
    return resources.desired_replicas(group) // num_hosts(group)


def num_hosts(group: WorkerGroupSpec) -> int:
    return group.effective_num_of_hosts()


def autoscaling_enabled(cluster: RayCluster) -> bool:
    return bool(cluster.spec.enable_in_tree_autoscaling)


def _worker_delete(pod: PodView, message: str) -> DeletePod:
    return DeletePod(pod.name, pod.uid, L.NODE_TYPE_WORKER, pod.group, "DeletedWorkerPod", message)


def plan_pods(
    cluster: RayCluster,
    pods: list[PodView],
    *,
    spec_hash: str,
    suspending: bool,
    suspended: bool,
    provisioned: bool,
    pending_groups: frozenset[str] = frozenset(),
    max_creates: int = 50,
    operator_version: str | None = None,
    random_pod_delete: bool = False,
) -> PodPlan:
    """Plan one pass. ``pending_groups`` are groups whose earlier creates/deletes the cache does not show yet."""
    plan = PodPlan()
    live = [p for p in pods if not p.deleting]
    namespace = cluster.metadata.get("namespace", "")
    cname = cluster.metadata.get("name", "")

    if suspending:
        plan.deletes = [DeletePod(p.name, p.uid, p.node_type, p.group, "DeletedPod",
                                  f"Deleted Pods for RayCluster {namespace}/{cname} due to suspension")
                        for p in live]
        return plan
    if suspended or cluster.spec.suspend:
        return plan

    heads = [p for p in live if p.node_type == L.NODE_TYPE_HEAD]
    strategy = cluster.spec.upgrade_strategy
    if (strategy and strategy.type == "Recreate" and heads and operator_version is not None
            and heads[0].operator_version != operator_version):
        # As KubeRay: pods made by another operator version (e.g. KubeRay itself, before switching to rayop) hash
        # the spec differently; adopt them by refreshing the annotations instead of recreating every pod.
        plan.refresh_hash = [p.name for p in live]
    elif strategy and strategy.type == "Recreate" and heads and heads[0].recreate_hash != spec_hash:
        plan.deletes = [DeletePod(p.name, p.uid, p.node_type, p.group, "DeletedPod",
                                  f"Deleted all Pods for RayCluster {namespace}/{cname} due to spec change with "
                                  "Recreate upgradeStrategy") for p in live]
        return plan

    budget = max_creates
    if L.HEAD_GROUP not in pending_groups:
        if len(heads) > 1:
            plan.error = f"{len(heads)} head pods found {[h.name for h in heads]}. Please delete extra head pods"
            return plan
        if len(heads) == 1 and heads[0].should_delete():
            head = heads[0]
            plan.deletes.append(DeletePod(head.name, head.uid, L.NODE_TYPE_HEAD, L.HEAD_GROUP, "DeletedHeadPod",
                                          f"Deleted head Pod {namespace}/{head.name}; {head.describe()}"))
            return plan
        annotations = cluster.metadata.get("annotations") or {}
        restart_disabled = annotations.get(L.DISABLE_PROVISIONED_HEAD_RESTART) == "true"
        if not heads and not (provisioned and restart_disabled):
            plan.creates.append(CreatePod(L.NODE_TYPE_HEAD, L.HEAD_GROUP))
            budget -= 1

    by_group: dict[str, list[PodView]] = defaultdict(list)
    for p in live:
        if p.node_type == L.NODE_TYPE_WORKER:
            by_group[p.group].append(p)
    for group in cluster.spec.worker_group_specs or []:
        if group.group_name in pending_groups:
            continue
        existing = by_group.get(group.group_name, [])
        if num_hosts(group) > 1:
            budget = _plan_multihost(cluster, group, existing, plan, budget, random_pod_delete)
        else:
            budget = _plan_single_host(cluster, group, existing, plan, budget, random_pod_delete)
    return plan


def _plan_single_host(cluster: RayCluster, group: WorkerGroupSpec, existing: list[PodView], plan: PodPlan,
                      budget: int, random_pod_delete: bool = False) -> int:
    ns = cluster.metadata.get("namespace", "")
    if group.suspend:
        plan.deletes += [_worker_delete(p, f"Deleted worker Pod {ns}/{p.name} due to worker group suspension")
                         for p in existing]
        return budget
    unhealthy = [p for p in existing if p.should_delete()]
    if unhealthy:
        plan.deletes += [_worker_delete(p, f"Deleted worker Pod {ns}/{p.name}; {p.describe()}") for p in unhealthy]
        return budget
    to_delete = set((group.scale_strategy.workers_to_delete or []) if group.scale_strategy else [])
    named = [p for p in existing if p.name in to_delete]
    plan.deletes += [_worker_delete(p, f"Deleted Pod {ns}/{p.name}") for p in named]
    remaining = [p for p in existing if p.name not in to_delete]
    diff = desired_replicas(group) - len(remaining)
    if diff > 0:
        n = min(diff, budget)
        plan.creates += [CreatePod(L.NODE_TYPE_WORKER, group.group_name) for _ in range(n)]
        plan.deferred = plan.deferred or n < diff
        return budget - n
    if diff < 0 and (random_pod_delete or not autoscaling_enabled(cluster)):
        # Remove pods that do the least work first: not running/ready, then the newest.
        victims = sorted(remaining, key=lambda p: (p.running_and_ready, _neg(p.created)))[: -diff]
        plan.deletes += [_worker_delete(p, f"Deleted Pod {ns}/{p.name}") for p in victims]
    return budget


def _neg(created: str) -> tuple[int, ...]:
    """Sort key that orders ISO timestamps newest first."""
    return tuple(-ord(c) for c in created)


def _plan_multihost(cluster: RayCluster, group: WorkerGroupSpec, existing: list[PodView], plan: PodPlan,
                    budget: int, random_pod_delete: bool = False) -> int:
    """Replica groups of ``numOfHosts`` pods are created, replaced and deleted as a whole."""
    ns = cluster.metadata.get("namespace", "")
    hosts = num_hosts(group)
    replicas: dict[str, list[PodView]] = defaultdict(list)
    for p in existing:
        replicas[p.replica_name or f"orphan-{p.name}"].append(p)

    def delete_replica(members: list[PodView], why: str) -> None:
        plan.deletes.extend(_worker_delete(p, f"Deleted worker Pod {ns}/{p.name} {why}") for p in members)

    if group.suspend:
        for members in replicas.values():
            delete_replica(members, "due to worker group suspension")
        return budget
    to_delete = set((group.scale_strategy.workers_to_delete or []) if group.scale_strategy else [])
    healthy: dict[str, list[PodView]] = {}
    for key, members in replicas.items():
        if len(members) != hosts or any(p.replica_name is None for p in members):
            delete_replica(members, f"of incomplete replica group {key} ({len(members)}/{hosts} hosts)")
        elif any(p.should_delete() for p in members):
            delete_replica(members, f"of replica group {key} with an unhealthy host")
        elif any(p.name in to_delete for p in members):
            delete_replica(members, f"of replica group {key} (workersToDelete)")
        else:
            healthy[key] = members
    if len(healthy) != len(replicas):
        return budget  # replace only once the deletions are observed, like single-host groups
    diff = desired_replicas(group) - len(healthy)
    if diff > 0:
        used = {m[0].replica_index for m in healthy.values()}
        index, created = 0, 0
        while created < diff and budget >= hosts:
            while index in used:
                index += 1
            key = f"{group.group_name}-{index}"
            plan.creates += [CreatePod(L.NODE_TYPE_WORKER, group.group_name, index, h, key) for h in range(hosts)]
            used.add(index)
            budget -= hosts
            created += 1
        plan.deferred = plan.deferred or created < diff
    elif diff < 0 and (random_pod_delete or not autoscaling_enabled(cluster)):
        newest = sorted(healthy.items(), key=lambda kv: -(kv[1][0].replica_index or 0))[: -diff]
        for key, members in newest:
            delete_replica(members, f"of replica group {key} (scale down)")
    return budget
