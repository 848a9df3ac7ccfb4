"""The rollout decisions (rayop.serve_rollout.rollout.plan): one behaviour per test, pure inputs, no server."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from rayop.serve_rollout.model import (
    AbandonUpgrade,
    ApplyServeConfig,
    AppView,
    Capacity,
    ClusterView,
    CreateCluster,
    DeleteCluster,
    Desired,
    MarkForDeletion,
    Observed,
    ReportCapacityShortfall,
    ReportUnsupported,
    SwitchServices,
    UpdateClusterInPlace,
)
from rayop.serve_rollout.rollout import plan, zero_downtime

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)
OLD, NEW = "hash-old", "hash-new"


def desired(**kw: Any) -> Desired:
    base: dict[str, Any] = {"cluster_hash": NEW, "prefix_hashes": ("p0", NEW), "serve_config_hash": "cfg",
                            "upgrade_type": None, "deletion_delay_s": 60.0, "upgrade_timeout_s": 600.0}
    return Desired(**{**base, **kw})


def serving(name: str, cluster_hash: str = NEW, cfg: str | None = "cfg", **kw: Any) -> ClusterView:
    """A cluster that serves ``cfg``: head ready, one RUNNING app, proxies healthy."""
    base: dict[str, Any] = {"name": name, "cluster_hash": cluster_hash, "num_worker_groups": 1,
                            "serve_config_hash": cfg, "created_at": NOW - dt.timedelta(minutes=30),
                            "head_ready": True, "apps": {"app": AppView("RUNNING")}, "proxies_healthy": True}
    return ClusterView(**{**base, **kw})


def starting(name: str, cluster_hash: str = NEW, age_s: float = 10.0, **kw: Any) -> ClusterView:
    """A cluster created ``age_s`` ago whose head is not ready yet."""
    base: dict[str, Any] = {"name": name, "cluster_hash": cluster_hash, "num_worker_groups": 1,
                            "created_at": NOW - dt.timedelta(seconds=age_s)}
    return ClusterView(**{**base, **kw})


def observed(*clusters: ClusterView, active: str | None = None, pending: str | None = None,
             serving_name: str | None = None, **kw: Any) -> Observed:
    base: dict[str, Any] = {"active": active, "pending": pending, "serving": serving_name,
                            "clusters": {c.name: c for c in clusters}, "now": NOW, "fresh_name": "svc-fresh"}
    return Observed(**{**base, **kw})


def kinds(p: Any) -> list[type]:
    return [type(a) for a in p.actions]


# ---- first cluster ----------------------------------------------------------------------------------------------

def test_no_cluster_names_a_pending_cluster_and_writes_it_before_creating():
    p = plan(desired(), observed())
    assert (p.active, p.pending, p.write_first) == (None, "svc-fresh", True)
    assert p.of(CreateCluster) == [CreateCluster("svc-fresh")]


def test_named_pending_cluster_missing_from_the_cache_is_created_under_the_same_name():
    p = plan(desired(), observed(pending="svc-aaaaa"))
    assert p.pending == "svc-aaaaa" and p.of(CreateCluster) == [CreateCluster("svc-aaaaa")]
    assert not p.write_first


def test_serve_config_is_applied_once_the_head_is_ready():
    c = starting("svc-a", head_ready=True)
    assert plan(desired(), observed(c, pending="svc-a")).of(ApplyServeConfig) == [ApplyServeConfig("svc-a")]


def test_serve_config_waits_for_the_head():
    assert plan(desired(), observed(starting("svc-a"), pending="svc-a")).of(ApplyServeConfig) == []


def test_first_cluster_that_serves_gets_the_services():
    p = plan(desired(), observed(serving("svc-a"), pending="svc-a"))
    assert p.of(SwitchServices) == [SwitchServices("svc-a")]


def test_services_selecting_the_pending_cluster_promote_it_to_active():
    p = plan(desired(), observed(serving("svc-a"), pending="svc-a", serving_name="svc-a"))
    assert (p.active, p.pending) == ("svc-a", None)
    assert p.of(SwitchServices) == [] and p.of(CreateCluster) == []


def test_first_cluster_is_created_even_when_it_does_not_fit():
    p = plan(desired(), observed(capacity=Capacity(False, "no room")))
    assert CreateCluster("svc-fresh") in p.actions and ReportCapacityShortfall("no room") in p.actions


# ---- steady state and serve config in place -----------------------------------------------------------------

def test_steady_state_does_nothing():
    p = plan(desired(), observed(serving("svc-a"), active="svc-a", serving_name="svc-a"))
    assert p.actions == [] and (p.active, p.pending) == ("svc-a", None)


def test_serve_config_change_alone_is_applied_to_the_active_cluster_in_place():
    p = plan(desired(serve_config_hash="cfg2"), observed(serving("svc-a"), active="svc-a", serving_name="svc-a"))
    assert p.of(ApplyServeConfig) == [ApplyServeConfig("svc-a")] and p.pending is None


def test_head_that_lost_its_apps_gets_the_config_again():
    c = serving("svc-a", apps={})
    assert plan(desired(), observed(c, active="svc-a", serving_name="svc-a")).of(ApplyServeConfig) == [
        ApplyServeConfig("svc-a")]


def test_active_cluster_that_serves_but_is_not_selected_gets_the_services_back():
    p = plan(desired(), observed(serving("svc-a"), active="svc-a", serving_name=None))
    assert p.of(SwitchServices) == [SwitchServices("svc-a")]


# ---- blue/green -----------------------------------------------------------------------------------------------

def test_cluster_spec_change_starts_a_pending_cluster():
    p = plan(desired(), observed(serving("svc-a", OLD), active="svc-a", serving_name="svc-a"))
    assert (p.active, p.pending, p.write_first) == ("svc-a", "svc-fresh", True)
    assert p.of(CreateCluster) == [CreateCluster("svc-fresh")]


def test_new_serve_config_during_an_upgrade_never_goes_to_the_active_cluster():
    p = plan(desired(serve_config_hash="cfg2"),
             observed(serving("svc-a", OLD), starting("svc-b", head_ready=True), active="svc-a", pending="svc-b",
                      serving_name="svc-a"))
    assert p.of(ApplyServeConfig) == [ApplyServeConfig("svc-b")]


def test_pending_cluster_that_serves_the_current_config_gets_the_services():
    p = plan(desired(), observed(serving("svc-a", OLD), serving("svc-b"), active="svc-a", pending="svc-b",
                                 serving_name="svc-a"))
    assert p.of(SwitchServices) == [SwitchServices("svc-b")]


def test_pending_cluster_serving_an_older_config_does_not_get_the_services():
    young = serving("svc-b", created_at=NOW - dt.timedelta(seconds=30))
    p = plan(desired(serve_config_hash="cfg2"),
             observed(serving("svc-a", OLD), young, active="svc-a", pending="svc-b",
                      serving_name="svc-a"))
    assert p.of(SwitchServices) == [] and p.of(ApplyServeConfig) == [ApplyServeConfig("svc-b")]


def test_pending_cluster_without_healthy_proxies_does_not_get_the_services():
    p = plan(desired(), observed(serving("svc-a", OLD), serving("svc-b", proxies_healthy=False), active="svc-a",
                                 pending="svc-b", serving_name="svc-a"))
    assert p.of(SwitchServices) == []


def test_pending_cluster_whose_head_has_no_proxy_gets_the_services_through_a_ready_serve_worker():
    # KubeRay's high-availability shape: head num-cpus 0, replicas (and so Serve's only proxy) on the workers.
    workers_only = serving("svc-b", proxies_healthy=False, ready_serve_workers=1)
    p = plan(desired(), observed(serving("svc-a", OLD), workers_only, active="svc-a", pending="svc-b",
                                 serving_name="svc-a"))
    assert p.of(SwitchServices) == [SwitchServices("svc-b")]


def test_pending_cluster_with_one_app_not_running_does_not_get_the_services():
    apps = {"a": AppView("RUNNING"), "b": AppView("DEPLOYING")}
    p = plan(desired(), observed(serving("svc-a", OLD), serving("svc-b", apps=apps), active="svc-a",
                                 pending="svc-b", serving_name="svc-a"))
    assert p.of(SwitchServices) == []


def test_after_the_switch_the_old_cluster_is_marked_for_deletion_after_the_delay():
    p = plan(desired(), observed(serving("svc-a", OLD), serving("svc-b"), active="svc-a", pending="svc-b",
                                 serving_name="svc-b"))
    assert (p.active, p.pending) == ("svc-b", None)
    assert p.of(MarkForDeletion) == [MarkForDeletion("svc-a", NOW + dt.timedelta(seconds=60))]
    assert p.of(DeleteCluster) == []


def test_old_cluster_still_selected_by_the_services_is_not_marked():
    p = plan(desired(), observed(serving("svc-a", OLD), serving("svc-b"), active="svc-b", serving_name="svc-a"))
    assert p.of(MarkForDeletion) == []


def test_old_cluster_still_listed_in_the_serve_endpoints_is_not_marked_yet():
    p = plan(desired(), observed(serving("svc-a", OLD), serving("svc-b"), active="svc-b", serving_name="svc-b",
                                 endpoint_clusters=frozenset({"svc-a"})))
    assert p.of(MarkForDeletion) == []


def test_drained_cluster_is_deleted_once_its_delay_has_passed():
    old = serving("svc-a", OLD, delete_after=NOW - dt.timedelta(seconds=1))
    p = plan(desired(), observed(old, serving("svc-b"), active="svc-b", serving_name="svc-b"))
    assert [a.name for a in p.of(DeleteCluster)] == ["svc-a"]


def test_drained_cluster_waits_for_its_delay():
    old = serving("svc-a", OLD, delete_after=NOW + dt.timedelta(seconds=20))
    p = plan(desired(), observed(old, serving("svc-b"), active="svc-b", serving_name="svc-b"))
    assert p.of(DeleteCluster) == [] and p.requeue_after == pytest.approx(20.0)


def test_zero_deletion_delay_still_drains_for_one_pass_first():
    p = plan(desired(deletion_delay_s=0.0), observed(serving("svc-a", OLD), serving("svc-b"), active="svc-b",
                                                     serving_name="svc-b"))
    assert p.of(MarkForDeletion) == [MarkForDeletion("svc-a", NOW)] and p.of(DeleteCluster) == []


# ---- replace, cancel, never three ------------------------------------------------------------------------------

def test_newer_spec_during_an_upgrade_deletes_the_pending_cluster():
    p = plan(desired(cluster_hash="hash-newer", prefix_hashes=("p0", "hash-newer")),
             observed(serving("svc-a", OLD), starting("svc-b", NEW), active="svc-a", pending="svc-b",
                      serving_name="svc-a"))
    assert [a.name for a in p.of(DeleteCluster)] == ["svc-b"]
    assert p.pending == "svc-fresh" and p.write_first


def test_replacement_is_created_only_once_the_replaced_pending_cluster_is_gone():
    p = plan(desired(cluster_hash="hash-newer", prefix_hashes=("p0", "hash-newer")),
             observed(serving("svc-a", OLD), starting("svc-b", NEW), active="svc-a", pending="svc-b",
                      serving_name="svc-a"))
    assert p.of(CreateCluster) == []


def test_replacement_waits_while_the_replaced_cluster_terminates():
    gone = starting("svc-b", NEW, deleting=True)
    p = plan(desired(cluster_hash="hash-newer", prefix_hashes=("p0", "hash-newer")),
             observed(serving("svc-a", OLD), gone, active="svc-a", pending="svc-c", serving_name="svc-a"))
    assert p.of(CreateCluster) == [] and p.pending == "svc-c" and p.requeue_after is not None


def test_replacement_is_created_when_only_active_remains():
    p = plan(desired(cluster_hash="hash-newer", prefix_hashes=("p0", "hash-newer")),
             observed(serving("svc-a", OLD), active="svc-a", pending="svc-c", serving_name="svc-a"))
    assert p.of(CreateCluster) == [CreateCluster("svc-c")]


def test_spec_back_to_the_active_clusters_cancels_the_upgrade():
    p = plan(desired(cluster_hash=OLD, prefix_hashes=("p0", OLD)),
             observed(serving("svc-a", OLD), starting("svc-b", NEW), active="svc-a", pending="svc-b",
                      serving_name="svc-a"))
    assert [a.name for a in p.of(DeleteCluster)] == ["svc-b"] and p.pending is None
    assert p.of(CreateCluster) == []


# ---- deadline ---------------------------------------------------------------------------------------------------

def test_pending_cluster_not_serving_by_the_deadline_is_abandoned():
    broken = starting("svc-b", age_s=601, head_ready=True, proxies_healthy=True,
                      apps={"app": AppView("DEPLOY_FAILED", "Traceback\nModuleNotFoundError: no module x")})
    p = plan(desired(), observed(serving("svc-a", OLD), broken, active="svc-a", pending="svc-b",
                                 serving_name="svc-a"))
    [abandon] = p.of(AbandonUpgrade)
    assert abandon.name == "svc-b" and "DEPLOY_FAILED: ModuleNotFoundError: no module x" in abandon.message
    assert [a.name for a in p.of(DeleteCluster)] == ["svc-b"]
    assert (p.active, p.pending) == ("svc-a", None) and p.of(SwitchServices) == []


def test_abandoning_does_not_start_the_same_upgrade_again_in_the_same_pass():
    p = plan(desired(), observed(serving("svc-a", OLD), starting("svc-b", age_s=601), active="svc-a",
                                 pending="svc-b", serving_name="svc-a"))
    assert p.pending is None and p.of(CreateCluster) == []


def test_abandoned_upgrade_never_puts_its_serve_config_on_the_active_cluster():
    p = plan(desired(serve_config_hash="cfg2"), observed(serving("svc-a", OLD), starting("svc-b", age_s=601),
                                                         active="svc-a", pending="svc-b", serving_name="svc-a"))
    assert p.of(AbandonUpgrade) != [] and p.of(ApplyServeConfig) == []


def test_abandoned_goal_is_not_retried():
    d = desired()
    p = plan(d, observed(serving("svc-a", OLD), active="svc-a", serving_name="svc-a", abandoned_goal=d.goal))
    assert p.pending is None and p.actions == []


def test_a_newer_spec_after_an_abandoned_upgrade_starts_again():
    d = desired()
    p = plan(d, observed(serving("svc-a", OLD), active="svc-a", serving_name="svc-a", abandoned_goal="other/goal"))
    assert p.pending == "svc-fresh"


def test_pending_cluster_before_its_deadline_is_kept():
    p = plan(desired(), observed(serving("svc-a", OLD), starting("svc-b", age_s=599), active="svc-a",
                                 pending="svc-b", serving_name="svc-a"))
    assert p.of(AbandonUpgrade) == [] and p.pending == "svc-b"


def test_the_first_cluster_has_no_upgrade_deadline():
    p = plan(desired(), observed(starting("svc-a", age_s=10_000), pending="svc-a"))
    assert p.of(AbandonUpgrade) == [] and p.pending == "svc-a"


# ---- strategies -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "default", "expected"), [
    (None, True, True), (None, False, False), ("NewCluster", False, True), ("None", True, False),
    ("NewClusterWithIncrementalUpgrade", True, True), ("Bogus", True, False)])
def test_which_strategies_create_new_clusters(kind: str | None, default: bool, expected: bool):
    assert zero_downtime(desired(upgrade_type=kind, zero_downtime_default=default)) is expected


def test_strategy_none_ignores_a_cluster_spec_change():
    p = plan(desired(upgrade_type="None"), observed(serving("svc-a", OLD), active="svc-a", serving_name="svc-a"))
    assert p.pending is None and p.of(CreateCluster) == []


def test_strategy_none_still_applies_the_serve_config_in_place():
    p = plan(desired(upgrade_type="None", serve_config_hash="cfg2"),
             observed(serving("svc-a", OLD), active="svc-a", serving_name="svc-a"))
    assert p.of(ApplyServeConfig) == [ApplyServeConfig("svc-a")]


def test_appended_worker_group_updates_the_active_cluster_in_place():
    d = desired(cluster_hash="h2", prefix_hashes=("p0", OLD, "h2"))
    p = plan(d, observed(serving("svc-a", OLD, num_worker_groups=1), active="svc-a", serving_name="svc-a"))
    assert p.of(UpdateClusterInPlace) == [UpdateClusterInPlace("svc-a")] and p.pending is None


def test_changed_existing_worker_group_is_not_an_append():
    d = desired(cluster_hash="h2", prefix_hashes=("p0", "changed", "h2"))
    p = plan(d, observed(serving("svc-a", OLD, num_worker_groups=1), active="svc-a", serving_name="svc-a"))
    assert p.of(UpdateClusterInPlace) == [] and p.pending == "svc-fresh"


def test_incremental_without_gateway_api_is_reported_and_runs_blue_green():
    p = plan(desired(upgrade_type="NewClusterWithIncrementalUpgrade"),
             observed(serving("svc-a", OLD), active="svc-a", serving_name="svc-a"))
    [note] = p.of(ReportUnsupported)
    assert "no GatewayClass CRD found" in note.message and p.pending == "svc-fresh"


def test_incremental_with_gateway_api_is_still_reported():
    p = plan(desired(upgrade_type="NewClusterWithIncrementalUpgrade", gateway_available=True),
             observed(serving("svc-a"), active="svc-a", serving_name="svc-a"))
    [note] = p.of(ReportUnsupported)
    assert "not implemented" in note.message


# ---- capacity ---------------------------------------------------------------------------------------------------

def test_upgrade_that_does_not_fit_is_reported_instead_of_created():
    p = plan(desired(), observed(serving("svc-a", OLD), active="svc-a", pending="svc-b", serving_name="svc-a",
                                 capacity=Capacity(False, "pod x fits on no node")))
    assert p.of(CreateCluster) == [] and p.of(ReportCapacityShortfall) == [
        ReportCapacityShortfall("pod x fits on no node")]
    assert p.pending == "svc-b" and p.requeue_after == 30.0


def test_upgrade_that_fits_is_created():
    p = plan(desired(), observed(serving("svc-a", OLD), active="svc-a", pending="svc-b", serving_name="svc-a",
                                 capacity=Capacity(True)))
    assert p.of(CreateCluster) == [CreateCluster("svc-b")]


# ---- deletion, lost clusters ------------------------------------------------------------------------------------

def test_deleting_the_rayservice_deletes_every_cluster_at_once():
    p = plan(desired(), observed(serving("svc-a"), starting("svc-b"), starting("svc-c", deleting=True),
                                 active="svc-a", pending="svc-b", deleting=True))
    assert sorted(a.name for a in p.of(DeleteCluster)) == ["svc-a", "svc-b"]
    assert (p.active, p.pending) == (None, None)


def test_dangling_cluster_is_drained_then_deleted():
    p = plan(desired(), observed(serving("svc-a"), starting("svc-x"), active="svc-a", serving_name="svc-a"))
    assert [a.name for a in p.of(MarkForDeletion)] == ["svc-x"]


def test_active_cluster_gone_from_the_cache_starts_a_new_one():
    p = plan(desired(), observed(active="svc-a", serving_name="svc-a"))
    assert (p.active, p.pending) == (None, "svc-fresh")


def test_restart_after_the_switch_before_promotion_promotes_and_creates_nothing():
    """The switch was made and the operator died before writing the status: the next pass only promotes."""
    p = plan(desired(), observed(serving("svc-a", OLD), serving("svc-b"), active="svc-a", pending="svc-b",
                                 serving_name="svc-b"))
    assert (p.active, p.pending) == ("svc-b", None)
    assert p.of(CreateCluster) == [] and p.of(ApplyServeConfig) == []


def test_serving_ready_needs_every_app_running():
    c = serving("svc-a")
    assert c.serving_ready
    assert not dataclasses.replace(c, apps={}).serving_ready
    assert not dataclasses.replace(c, head_ready=False).serving_ready
