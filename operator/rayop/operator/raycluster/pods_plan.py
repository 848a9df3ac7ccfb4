"""Which pods to create and delete, decided from the spec and the observed pods alone (no I/O).

This is KubeRay's ``reconcilePods`` as a pure function: suspend, Recreate upgrades, the head, then every worker
group (group suspend, multi-host replica groups, unhealthy pods, ``workersToDelete``, replicas clamped to
[min, max]).  Two deliberate improvements: scale-down without autoscaling removes pending/unready pods first and
then the newest ones (KubeRay removes "the first listed"), and the number of creations per pass is bounded so one
huge scale-up cannot starve other clusters. The worker groups are planned by the generic pod-group engine
(:mod:`rayop.operator.runtime.podgroups`, shared with the Kubeflow kinds); this module keeps the Ray-only rules
(suspend, Recreate, the head) and KubeRay's event messages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from rayop.api import labels as L
from rayop.api.raycluster import RayCluster, WorkerGroupSpec
from rayop.operator.builders import resources
from rayop.operator.runtime import podgroups
from rayop.operator.runtime.podgroups import Cause

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

    budget = podgroups.CreateBudget(max_creates)
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
            budget.charge(1)

    by_group: dict[str, list[PodView]] = defaultdict(list)
    for p in live:
        if p.node_type == L.NODE_TYPE_WORKER:
            by_group[p.group].append(p)
    for group in cluster.spec.worker_group_specs or []:
        if group.group_name in pending_groups:
            continue
        existing = by_group.get(group.group_name, [])
        if num_hosts(group) > 1:
            _plan_multihost(cluster, group, existing, plan, budget, random_pod_delete)
        else:
            _plan_single_host(cluster, group, existing, plan, budget, random_pod_delete)
    return plan


def _group_spec(cluster: RayCluster, group: WorkerGroupSpec, random_pod_delete: bool) -> podgroups.GroupSpec:
    to_delete = (group.scale_strategy.workers_to_delete or []) if group.scale_strategy else []
    return podgroups.GroupSpec(group.group_name, desired_replicas(group), num_hosts(group), suspend=bool(group.suspend),
                               delete_names=frozenset(to_delete),
                               scale_down=random_pod_delete or not autoscaling_enabled(cluster))


def _add(plan: PodPlan, group: WorkerGroupSpec, outcome: podgroups.GroupPlan[PodView],
         message: Callable[[podgroups.Removal[PodView]], str]) -> None:
    plan.creates += [CreatePod(L.NODE_TYPE_WORKER, group.group_name, c.replica_index, c.host_index, c.replica_key)
                     for c in outcome.creates]
    plan.deletes += [_worker_delete(r.member, message(r)) for r in outcome.deletes]
    plan.deferred = plan.deferred or outcome.deferred


def _plan_single_host(cluster: RayCluster, group: WorkerGroupSpec, existing: list[PodView], plan: PodPlan,
                      budget: podgroups.CreateBudget, random_pod_delete: bool = False) -> None:
    """KubeRay's single-host rules (unhealthy pods first and alone, workersToDelete, scale by count)."""
    ns = cluster.metadata.get("namespace", "")

    def message(r: podgroups.Removal[PodView]) -> str:
        p = r.member
        if r.cause is Cause.SUSPENDED:
            return f"Deleted worker Pod {ns}/{p.name} due to worker group suspension"
        if r.cause is Cause.UNHEALTHY:
            return f"Deleted worker Pod {ns}/{p.name}; {p.describe()}"
        return f"Deleted Pod {ns}/{p.name}"

    _add(plan, group, podgroups.plan_group(_group_spec(cluster, group, random_pod_delete), existing, budget), message)


def _plan_multihost(cluster: RayCluster, group: WorkerGroupSpec, existing: list[PodView], plan: PodPlan,
                    budget: podgroups.CreateBudget, random_pod_delete: bool = False) -> None:
    """Replica groups of ``numOfHosts`` pods are created, replaced and deleted as a whole."""
    ns = cluster.metadata.get("namespace", "")
    hosts = num_hosts(group)
    why = {
        Cause.SUSPENDED: lambda r: "due to worker group suspension",
        Cause.INCOMPLETE: lambda r: f"of incomplete replica group {r.replica} ({r.size}/{hosts} hosts)",
        Cause.UNHEALTHY: lambda r: f"of replica group {r.replica} with an unhealthy host",
        Cause.EXPLICIT: lambda r: f"of replica group {r.replica} (workersToDelete)",
        Cause.SCALE_DOWN: lambda r: f"of replica group {r.replica} (scale down)",
    }

    def message(r: podgroups.Removal[PodView]) -> str:
        return f"Deleted worker Pod {ns}/{r.member.name} {why[r.cause](r)}"

    _add(plan, group, podgroups.plan_group(_group_spec(cluster, group, random_pod_delete), existing, budget), message)
