"""The RayService controller's pure parts: validation messages, builders, the Serve API parsing, the status."""

from __future__ import annotations

from typing import Any

import pytest

from rayop.api.raycluster import RayCluster
from rayop.api.rayservice import RayService
from rayop.operator.builders import BuildError
from rayop.operator.builders.rayservice import (
    build_cluster_for_service,
    build_service_head_service,
    build_service_serve_service,
)
from rayop.operator.metrics import OperatorMetrics
from rayop.operator.rayservice import status as S
from rayop.operator.rayservice.controller import replacing
from rayop.operator.rayservice.observe import cluster_demands, cluster_view, upgrade_timeout
from rayop.operator.rayservice.serve_api import ServeApiError, config_to_json, parse_applications, poll_cluster
from rayop.operator.rayservice.validation import validate_rayservice
from rayop.serve_rollout.model import AppView

pytestmark = pytest.mark.unit
NOW = "2026-12-02T05:00:00Z"


def svc(**spec: Any) -> RayService:
    head = {"name": "ray-head", "image": "ray", "ports": [{"name": "serve", "containerPort": 8000},
                                                         {"name": "serve-grpc", "containerPort": 9000},
                                                         {"name": "dashboard", "containerPort": 8265}]}
    body = {"metadata": {"name": "svc", "namespace": "ns", "uid": "u1", "labels": {"team": "a"},
                         "annotations": {"note": "x"}},
            "spec": {"serveConfigV2": "applications: []", "rayClusterConfig": {
                "headGroupSpec": {"template": {"spec": {"containers": [head]}}},
                "workerGroupSpecs": [{"groupName": "g", "replicas": 2, "minReplicas": 0, "maxReplicas": 4,
                                      "template": {"spec": {"containers": [{"name": "w", "resources": {
                                          "requests": {"cpu": "1"}}}]}}}]}, **spec}}
    return RayService.parse(body)


# ---- validation -------------------------------------------------------------------------------------------------

def test_unknown_upgrade_type_is_rejected_with_kuberays_message():
    [problem] = validate_rayservice(svc(upgradeStrategy={"type": "Rolling"}))
    assert problem.message == ("The RayService spec is invalid: Spec.UpgradeStrategy.Type value Rolling is invalid, "
                               "valid options are NewClusterWithIncrementalUpgrade, NewCluster, or None")


def test_name_longer_than_47_is_rejected():
    s = svc()
    s.metadata["name"] = "x" * 48
    assert "RayService name should be no more than 47 characters" in validate_rayservice(s)[0].message


def test_head_service_name_must_not_be_set():
    s = svc()
    s.spec.ray_cluster_config.head_group_spec.head_service = {"metadata": {"name": "mine"}}
    assert "headService.metadata.name should not be set" in validate_rayservice(s)[0].message


def test_incremental_needs_the_autoscaler():
    problems = validate_rayservice(svc(upgradeStrategy={"type": "NewClusterWithIncrementalUpgrade"}))
    assert problems[0].message.endswith("Ray Autoscaler is required for NewClusterWithIncrementalUpgrade")


def test_incremental_step_above_surge_is_rejected():
    s = svc(upgradeStrategy={"type": "NewClusterWithIncrementalUpgrade", "clusterUpgradeOptions": {
        "stepSizePercent": 60, "maxSurgePercent": 50, "intervalSeconds": 5, "gatewayClassName": "g"}})
    s.spec.ray_cluster_config.enable_in_tree_autoscaling = True
    assert validate_rayservice(s)[0].message.endswith("stepSizePercent must be less than or equal to maxSurgePercent")


def test_bad_initializing_timeout_annotation_is_rejected():
    s = svc()
    s.metadata["annotations"] = {"ray.io/initializing-timeout": "soon"}
    assert "ray.io/initializing-timeout" in validate_rayservice(s)[0].message


def test_a_valid_rayservice_has_no_problems():
    assert validate_rayservice(svc(upgradeStrategy={"type": "None"})) == []


def test_a_head_that_declares_ports_but_no_serve_port_is_invalid_naming_the_ports():
    s = svc()
    s.spec.ray_cluster_config.head_group_spec.template["spec"]["containers"][0]["ports"] = [
        {"name": "dashboard", "containerPort": 8265}]
    problems = validate_rayservice(s)
    assert problems[0].path == "spec.rayClusterConfig.headGroupSpec.template.spec.containers[0].ports"
    assert "Please specify a port named 'serve'" in problems[0].message


def test_a_head_without_a_serve_port_is_valid_when_serve_service_names_one():
    s = svc(serveService={"spec": {"ports": [{"name": "serve", "port": 8000}]}})
    s.spec.ray_cluster_config.head_group_spec.template["spec"]["containers"][0]["ports"] = [
        {"name": "dashboard", "containerPort": 8265}]
    assert validate_rayservice(s) == []


def test_a_head_that_declares_no_ports_is_valid_with_the_default_serve_port():
    s = svc()
    s.spec.ray_cluster_config.head_group_spec.template["spec"]["containers"][0]["ports"] = []
    assert validate_rayservice(s) == []


# ---- builders ---------------------------------------------------------------------------------------------------

def test_cluster_carries_labels_annotations_and_hash_like_kuberays():
    obj = build_cluster_for_service(svc(), cluster_name="svc-abcde", cluster_hash="h1")
    meta = obj["metadata"]
    assert meta["labels"] == {"team": "a", "ray.io/originated-from-cr-name": "svc",
                              "ray.io/originated-from-crd": "RayService"}
    assert meta["annotations"]["note"] == "x"
    assert meta["annotations"]["ray.io/hash-without-replicas-and-workers-to-delete"] == "h1"
    assert meta["annotations"]["ray.io/num-worker-groups"] == "1"


def test_serve_service_selects_serve_ready_pods_of_one_cluster_with_serve_ports():
    cluster = RayCluster.parse(build_cluster_for_service(svc(), cluster_name="svc-abcde", cluster_hash="h"))
    service = build_service_serve_service(svc(), cluster)
    assert service["metadata"]["name"] == "svc-serve-svc"
    assert service["spec"]["selector"] == {"ray.io/cluster": "svc-abcde", "ray.io/serve": "true"}
    assert [p["name"] for p in service["spec"]["ports"]] == ["serve", "serve-grpc"]
    assert service["metadata"]["labels"]["ray.io/serve"] == "svc-serve"


def test_custom_serve_service_keeps_its_name_and_app_protocol():
    custom = {"metadata": {"name": "my-serve"}, "spec": {"ports": [{"name": "serve", "port": 8000,
                                                                    "appProtocol": "kubernetes.io/h2c"}]}}
    s = svc(serveService=custom)
    cluster = RayCluster.parse(build_cluster_for_service(s, cluster_name="svc-abcde", cluster_hash="h"))
    service = build_service_serve_service(s, cluster)
    assert service["metadata"]["name"] == "my-serve"
    assert service["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"


def test_serve_service_of_a_head_without_declared_ports_uses_kuberays_default_serve_port():
    s = svc()
    s.spec.ray_cluster_config.head_group_spec.template["spec"]["containers"][0]["ports"] = []
    cluster = RayCluster.parse(build_cluster_for_service(s, cluster_name="svc-abcde", cluster_hash="h"))
    assert build_service_serve_service(s, cluster)["spec"]["ports"] == [{"name": "serve", "port": 8000}]


def test_serve_service_without_serve_port_is_a_build_error():
    s = svc()
    s.spec.ray_cluster_config.head_group_spec.template["spec"]["containers"][0]["ports"] = [
        {"name": "dashboard", "containerPort": 8265}]
    cluster = RayCluster.parse(build_cluster_for_service(s, cluster_name="svc-abcde", cluster_hash="h"))
    with pytest.raises(BuildError):
        build_service_serve_service(s, cluster)


def test_head_service_is_named_and_labelled_for_the_rayservice():
    cluster = RayCluster.parse(build_cluster_for_service(svc(), cluster_name="svc-abcde", cluster_hash="h"))
    service = build_service_head_service(svc(), cluster)
    assert service["metadata"]["name"] == "svc-head-svc"
    assert service["metadata"]["labels"]["ray.io/identifier"] == "svc-head"
    assert service["spec"]["selector"]["ray.io/cluster"] == "svc-abcde"


# ---- observe ----------------------------------------------------------------------------------------------------

def test_cluster_view_reads_everything_from_the_objects():
    cluster = {"metadata": {"name": "c", "creationTimestamp": NOW, "annotations": {
        "ray.io/hash-without-replicas-and-workers-to-delete": "h", "ray.io/num-worker-groups": "2",
        "rayop.io/serve-config-hash": "cfg", "rayop.io/delete-after": NOW}}}
    head = {"metadata": {"labels": {"ray.io/node-type": "head"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    view = cluster_view(cluster, [head], None)
    assert (view.cluster_hash, view.num_worker_groups, view.serve_config_hash) == ("h", 2, "cfg")
    assert view.head_ready and view.delete_after is not None and view.apps is None


def test_a_config_put_started_and_not_seen_to_succeed_leaves_the_clusters_config_unknown():
    def view(**ann: str) -> Any:
        annotations = {k.replace("_", "-"): v for k, v in ann.items()}
        return cluster_view({"metadata": {"name": "c", "annotations": {
            f"rayop.io/{k}": v for k, v in annotations.items()}}}, [], None).serve_config_hash

    assert view(serve_config_hash="a") == "a"
    assert view(serve_config_hash="a", serve_config_applying="b") is None
    assert view(serve_config_applying="b") is None
    assert view(serve_config_hash="b", serve_config_applying="b") == "b"


def test_cluster_view_counts_ready_serve_workers_only():
    ready = [{"type": "Ready", "status": "True"}]

    def worker(serve: str, conditions: list[dict[str, str]], deleting: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"labels": {"ray.io/node-type": "worker", "ray.io/serve": serve}}
        if deleting:
            meta["deletionTimestamp"] = NOW
        return {"metadata": meta, "status": {"phase": "Running", "conditions": conditions}}

    pods = [worker("true", ready), worker("true", []), worker("false", ready), worker("true", ready, deleting=True)]
    assert cluster_view({"metadata": {"name": "c"}}, pods, None).ready_serve_workers == 1


def test_demands_count_head_and_each_replica():
    demands = cluster_demands(svc().spec.ray_cluster_config)
    assert [d.name for d in demands] == ["head", "g-0", "g-1"]
    assert demands[1].requests["cpu"] == 1.0


def test_upgrade_timeout_annotation_overrides_the_default():
    s = svc()
    assert upgrade_timeout(s, 900) == 900
    s.metadata["annotations"] = {"rayop.io/upgrade-timeout-seconds": "30"}
    assert upgrade_timeout(s, 900) == 30
    s.metadata["annotations"] = {"rayop.io/upgrade-timeout-seconds": "junk"}
    assert upgrade_timeout(s, 900) == 900


# ---- Serve API parsing ------------------------------------------------------------------------------------------

def test_applications_parse_with_deployments_and_default_name():
    data = {"applications": {"": {"status": "RUNNING", "message": "", "deployments": {
        "D": {"status": "HEALTHY", "message": "ok"}}}, "b": {"status": "DEPLOY_FAILED", "message": "boom"}}}
    apps = dict(parse_applications(data))
    assert apps["default"] == AppView("RUNNING", "", {"D": ("HEALTHY", "ok")})
    assert apps["b"].status == "DEPLOY_FAILED"


def test_no_serve_running_parses_as_no_applications():
    assert parse_applications({"controller_info": {}, "proxies": {}, "applications": {}}) == ()


def test_serve_config_yaml_becomes_the_json_body():
    assert config_to_json("applications:\n  - name: a\n    import_path: m:app\n") == {
        "applications": [{"name": "a", "import_path": "m:app"}]}
    with pytest.raises(ValueError):
        config_to_json("- just a list")


# ---- status -----------------------------------------------------------------------------------------------------

def _conds(**kw: Any) -> dict[str, dict[str, Any]]:
    base: dict[str, Any] = {"active": None, "pending": None, "endpoints": 0, "abandoned": None, "shortfall": None,
                            "unsupported": None, "ever_ready": False}
    return {c["type"]: c for c in S.rollout_conditions({}, 1, NOW, **{**base, **kw})}


def test_ready_with_endpoints_and_initializing_before():
    assert _conds(active="a", endpoints=1)["Ready"]["reason"] == "NonZeroServeEndpoints"
    assert _conds(pending="p")["Ready"]["reason"] == "Initializing"
    assert _conds(active="a", ever_ready=True)["Ready"]["reason"] == "ZeroServeEndpoints"


def test_upgrade_in_progress_follows_the_sides():
    assert _conds(active="a", pending="p")["UpgradeInProgress"]["reason"] == "BothActivePendingClustersExist"
    assert _conds(active="a")["UpgradeInProgress"]["reason"] == "NoPendingCluster"
    assert _conds()["UpgradeInProgress"]["status"] == "Unknown"


def test_rollout_conditions_name_abandon_capacity_and_strategy():
    c = _conds(active="a", abandoned="late", shortfall="no room",
               unsupported="needs a Gateway API implementation (no GatewayClass CRD found)")
    assert (c["UpgradeAbandoned"]["status"], c["UpgradeAbandoned"]["message"]) == ("True", "late")
    assert (c["PendingClusterFits"]["status"], c["PendingClusterFits"]["reason"]) == ("False", "InsufficientCapacity")
    assert c["UpgradeStrategySupported"]["reason"] == "GatewayAPINotFound"


def test_side_maps_applications_and_deployments():
    side = S.side("c", {"app": AppView("RUNNING", "", {"D": ("HEALTHY", "")})}, None, None)
    assert side == {"rayClusterName": "c", "applicationStatuses": {"app": {
        "status": "RUNNING", "serveDeploymentStatuses": {"D": {"status": "HEALTHY"}}}}}
    assert S.side(None, None, None, None) == {}


def test_suspend_conditions_are_kuberays():
    during = {c["type"]: c for c in S.suspend_conditions({}, 1, NOW, done=False)}
    done = {c["type"]: c for c in S.suspend_conditions({}, 1, NOW, done=True)}
    assert (during["Suspending"]["status"], during["Suspending"]["reason"]) == ("True", "SuspendRequested")
    assert (done["Suspended"]["status"], done["Suspended"]["reason"]) == ("True", "SuspendComplete")
    resumed = {c["type"]: c for c in S.resumed_conditions(done, 2, NOW)}
    assert resumed["Suspended"]["reason"] == "RayServiceResumed" and resumed["Ready"]["reason"] == "Initializing"


def test_replacing_patch_removes_keys_the_new_status_drops():
    old = {"pendingServiceStatus": {"rayClusterName": "p", "applicationStatuses": {"a": {}}}, "x": 1}
    assert replacing(old, {"pendingServiceStatus": {}}) == {
        "pendingServiceStatus": {"rayClusterName": None, "applicationStatuses": None}, "x": None}


def test_service_metrics_follow_the_conditions_and_go_with_the_service():
    m = OperatorMetrics()
    m.observe_service("s", "ns", "u", {"Ready": {"status": "True"}, "UpgradeInProgress": {"status": "False"}})
    assert m.registry.get_sample_value("kuberay_service_condition_ready", {
        "name": "s", "namespace": "ns", "uid": "u", "condition": "true"}) == 1
    m.forget_service("s", "ns", "u")
    assert m.registry.get_sample_value("kuberay_service_info", {"name": "s", "namespace": "ns", "uid": "u"}) is None


# ---- one poll through the ServeApi protocol (an in-memory fake) -------------------------------------------------

class FakeServe:
    def __init__(self, apps: Any = (), proxy: tuple[bool, str] = (True, "200 success"), fail: bool = False) -> None:
        self.apps, self.proxy, self.fail, self.puts = apps, proxy, fail, []

    async def applications(self) -> Any:
        if self.fail:
            raise ServeApiError(503, "GCS down")
        return self.apps

    async def put_config(self, config: dict[str, Any]) -> None:
        self.puts.append(config)

    async def proxy_health(self) -> tuple[bool, str]:
        return self.proxy


async def test_a_poll_reports_apps_and_proxy_health():
    state = await poll_cluster(FakeServe(apps=(("a", AppView("RUNNING")),)))
    assert state.app_map() == {"a": AppView("RUNNING")} and state.proxy_healthy


async def test_a_poll_with_the_api_down_knows_no_apps_but_still_the_proxy():
    state = await poll_cluster(FakeServe(fail=True, proxy=(False, "503 No replicas are available yet.")), pause=0)
    assert state.apps is None and not state.proxy_healthy and "GCS down" in (state.error or "")


def test_serve_endpoints_count_unique_ready_pods_across_slices():
    from rayop.operator.rayservice.controller import count_endpoints

    slices = [{"endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "targetRef": {"uid": "a"}},
                             {"addresses": ["10.0.0.2"], "conditions": {"ready": False}, "targetRef": {"uid": "b"}}]},
              {"endpoints": [{"addresses": ["10.0.0.1"], "conditions": {}, "targetRef": {"uid": "a"}},
                             {"addresses": ["10.0.0.3"], "targetRef": {"uid": "c"}}]}]
    assert count_endpoints(slices) == 2


def test_a_long_traceback_keeps_its_last_line():
    message = "Traceback\n" + "  File x\n" * 1000 + "ModuleNotFoundError: No module named 'no_such_module'"
    [(_, app)] = parse_applications({"applications": {"a": {"status": "DEPLOY_FAILED", "message": message}}})
    assert app.message.endswith("No module named 'no_such_module'")


async def test_one_failed_proxy_check_is_retried_before_the_proxy_counts_as_down():
    answers = iter([(False, "timeout"), (True, "200 success")])

    class Flaky(FakeServe):
        async def proxy_health(self) -> tuple[bool, str]:
            return next(answers)

    assert (await poll_cluster(Flaky(), pause=0)).proxy_healthy
