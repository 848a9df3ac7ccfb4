"""One rollout decision per pass: which cluster is active and pending, and what to do next.

The rules, in the order :func:`plan` applies them:

1. **Promotion.** The Services select the pending cluster: it becomes active (the switch happened, possibly in a
   pass that was interrupted before writing the status).
2. **Cancel or replace.** The spec went back to the active cluster's spec: the pending cluster goes. The spec
   changed again during an upgrade: the pending cluster goes and a new one is started once it is gone, so there are
   never three clusters.
3. **Deadline.** The pending cluster of an upgrade does not serve ``upgrade_timeout_s`` after its creation: the
   upgrade is abandoned (pending deleted, traffic stays), and the same goal is not tried again until the spec changes.
4. **Start.** No cluster, or the active one runs another spec (and the strategy allows a new cluster): a pending
   cluster is named (written to the status first) and created, after the capacity check for upgrades. Worker
   groups that were only appended are added in place instead.
5. **Serve config.** Applied to the pending cluster while there is one, else to the active one; never to the active
   cluster during an upgrade.
6. **Switch.** The pending cluster serves the current config: the Services point at it. The active cluster is the
   Services' target whenever no switch is due.
7. **Drain, then delete.** A cluster that is neither active nor pending, once the serve Service's endpoints no
   longer list its pods, is marked with a deletion time (``deletion_delay_s`` later) and deleted once it has passed.
"""

from __future__ import annotations

import datetime as dt

from rayop.api.rayservice import UpgradeType

from .model import (
    AbandonUpgrade,
    ApplyServeConfig,
    ClusterView,
    CreateCluster,
    DeleteCluster,
    Desired,
    MarkForDeletion,
    Note,
    Observed,
    Plan,
    ReportCapacityShortfall,
    ReportUnsupported,
    SwitchServices,
    UpdateClusterInPlace,
)

#: How often an upgrade waiting for its pending cluster, for capacity or for a drain is looked at again.
RECHECK_S = 2.0
CAPACITY_RECHECK_S = 30.0


def zero_downtime(desired: Desired) -> bool:
    """Whether a cluster spec change gets a new cluster (KubeRay's ``isZeroDowntimeUpgradeEnabled``)."""
    kind = desired.upgrade_type
    if kind in (UpgradeType.NEW_CLUSTER, UpgradeType.NEW_CLUSTER_WITH_INCREMENTAL_UPGRADE):
        return True
    if kind is None or kind == "":
        return desired.zero_downtime_default
    return False


def incremental_note(desired: Desired) -> ReportUnsupported | None:
    """NewClusterWithIncrementalUpgrade is accepted and run as NewCluster (full capacity); the condition says so."""
    if desired.upgrade_type != UpgradeType.NEW_CLUSTER_WITH_INCREMENTAL_UPGRADE:
        return None
    if not desired.gateway_available:
        return ReportUnsupported("NewClusterWithIncrementalUpgrade needs a Gateway API implementation (no "
                                 "GatewayClass CRD found); upgrades run as NewCluster (blue/green at full capacity)")
    return ReportUnsupported("NewClusterWithIncrementalUpgrade: incremental traffic shifting is not implemented by "
                             "rayop; upgrades run as NewCluster (blue/green at full capacity)")


def appended_only(cluster: ClusterView, desired: Desired) -> bool:
    """Only worker groups were appended to the cluster's spec (KubeRay updates such a cluster in place)."""
    n = cluster.num_worker_groups
    if n is None or cluster.cluster_hash is None or n >= desired.num_worker_groups:
        return False
    return desired.prefix_hashes[n] == cluster.cluster_hash


def _age(cluster: ClusterView, now: dt.datetime) -> float | None:
    return (now - cluster.created_at).total_seconds() if cluster.created_at is not None else None


def _needs_config(cluster: ClusterView, desired: Desired) -> bool:
    if desired.serve_config_hash is None or not cluster.head_ready:
        return False
    lost = cluster.apps is not None and not cluster.apps  # the head came back without its apps (no GCS FT)
    return cluster.serve_config_hash != desired.serve_config_hash or lost


def _serves_current(cluster: ClusterView, desired: Desired) -> bool:
    return cluster.serving_ready and cluster.serve_config_hash == desired.serve_config_hash


def _failure_summary(cluster: ClusterView) -> str:
    failed = cluster.failed_apps()
    if failed:
        name, app = sorted(failed.items())[0]
        detail = app.message.strip().splitlines()[-1] if app.message.strip() else ""
        return f"application {name} is {app.status}" + (f": {detail}" if detail else "")
    if not cluster.head_ready:
        return "its head pod is not ready"
    if not cluster.proxies_healthy and not cluster.ready_serve_workers:
        return "its Serve proxies do not answer"
    return "its Serve applications are not RUNNING"


def plan(desired: Desired, observed: Observed) -> Plan:
    """The decision of one pass (see the module docstring for the rules)."""
    clusters = observed.clusters
    now = observed.now
    active = observed.active if observed.active in clusters else None
    pending = observed.pending
    out = Plan(active=active, pending=pending)

    if observed.deleting:
        out.active = out.pending = None
        for c in clusters.values():
            if not c.deleting:
                out.actions.append(DeleteCluster(c.name, "the RayService is being deleted"))
        return out

    # 1. promotion: the Services already select the pending cluster
    if pending is not None and observed.serving == pending and pending in clusters:
        out.actions.append(Note("PromotedRayCluster", f"RayCluster {pending} is active (was pending); "
                                                      f"{active or 'no cluster'} leaves the Services"))
        out.active, out.pending = pending, None
        active, pending = pending, None

    note = incremental_note(desired)
    if note is not None:
        out.actions.append(note)
    upgrades = zero_downtime(desired)
    active_view = clusters.get(active) if active else None
    pending_view = clusters.get(pending) if pending else None

    # 2. cancel or replace a pending cluster whose spec is no longer wanted
    if pending is not None and pending_view is not None and pending_view.cluster_hash != desired.cluster_hash \
            and not appended_only(pending_view, desired):
        back = active_view is not None and active_view.cluster_hash == desired.cluster_hash
        why = ("the spec went back to the active cluster's" if back
               else "the spec changed again during the upgrade")
        out.actions.append(DeleteCluster(pending, f"pending cluster replaced: {why}"))
        out.pending = pending = None
        pending_view = None
        out.write_first = True
    elif pending is not None and active_view is not None and pending_view is not None and not upgrades:
        out.actions.append(DeleteCluster(pending, "the upgrade strategy no longer creates new clusters"))
        out.pending = pending = None
        pending_view = None
        out.write_first = True

    # 3. deadline of an upgrade
    if pending is not None and pending_view is not None and active_view is not None \
            and not _serves_current(pending_view, desired):
        age = _age(pending_view, now)
        if age is not None and age >= desired.upgrade_timeout_s:
            message = (f"Upgrade abandoned: pending RayCluster {pending} did not serve within "
                       f"{int(desired.upgrade_timeout_s)} s ({_failure_summary(pending_view)}); traffic stays on "
                       f"RayCluster {active}")
            out.actions += [AbandonUpgrade(pending, desired.goal, message),
                            DeleteCluster(pending, "upgrade abandoned at its deadline")]
            out.pending = pending = None
            pending_view = None
            out.write_first = True
        elif age is not None:
            out.after(max(0.5, min(RECHECK_S, desired.upgrade_timeout_s - age)))

    # 4. start (or keep starting) a cluster
    going = {a.name for a in out.actions if isinstance(a, DeleteCluster)}
    busy = any((c.deleting or c.name in going) and c.name not in (active, pending) for c in clusters.values())
    abandoned = observed.abandoned_goal == desired.goal or any(isinstance(a, AbandonUpgrade) for a in out.actions)
    if pending is None:
        if active_view is None:
            out.pending = pending = observed.fresh_name
            out.write_first = True
        elif active_view.cluster_hash != desired.cluster_hash:
            if appended_only(active_view, desired):
                out.actions.append(UpdateClusterInPlace(active_view.name))
            elif upgrades and not abandoned:
                out.pending = pending = observed.fresh_name
                out.write_first = True
    elif pending_view is not None and appended_only(pending_view, desired):
        out.actions.append(UpdateClusterInPlace(pending_view.name))

    if pending is not None and pending_view is None:
        upgrade = active_view is not None
        if busy:
            out.after(RECHECK_S)  # a replaced pending cluster is still going away: never three at once
        elif upgrade and observed.capacity is not None and not observed.capacity.fits:
            out.actions.append(ReportCapacityShortfall(observed.capacity.message))
            out.after(CAPACITY_RECHECK_S)
        else:
            if observed.capacity is not None and not observed.capacity.fits:
                out.actions.append(ReportCapacityShortfall(observed.capacity.message))
            out.actions.append(CreateCluster(pending))
            out.after(RECHECK_S)

    # 5. serve config: the pending cluster's while there is one, never the active's during an upgrade
    target = pending_view if pending is not None else active_view
    if pending is None and active_view is not None and upgrades and active_view.cluster_hash != desired.cluster_hash \
            and not appended_only(active_view, desired):
        target = None  # the config belongs to the new spec's cluster (e.g. a new image), not to the old one
    if target is not None and _needs_config(target, desired):
        out.actions.append(ApplyServeConfig(target.name))

    # 6. switch the Services
    if pending_view is not None and _serves_current(pending_view, desired):
        out.actions.append(SwitchServices(pending_view.name))
    elif active_view is not None and observed.serving != active_view.name and active_view.serving_ready \
            and pending is None:
        out.actions.append(SwitchServices(active_view.name))
    if pending_view is not None:
        out.after(RECHECK_S)

    # 7. drain, then delete what is neither active nor pending
    for c in clusters.values():
        if c.name in (out.active, out.pending) or c.deleting or any(
                isinstance(a, DeleteCluster) and a.name == c.name for a in out.actions):
            continue
        if c.name == observed.serving or c.name in observed.endpoint_clusters:
            continue  # still selected, or still listed among the serve Service's endpoints: not drained yet
        if c.delete_after is None:
            at = now + dt.timedelta(seconds=desired.deletion_delay_s)
            out.actions.append(MarkForDeletion(c.name, at))
            out.after(max(0.5, desired.deletion_delay_s))
        elif c.delete_after <= now:
            out.actions.append(DeleteCluster(c.name, "drained: out of the Services for the deletion delay"))
        else:
            out.after(max(0.5, (c.delete_after - now).total_seconds()))
    return out
