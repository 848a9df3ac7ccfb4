"""The RayService models accept every KubeRay RayService sample and carry KubeRay's schema: defaults, CEL, columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.api.raycluster import RayClusterSpec
from rayop.api.rayservice import (
    DEFAULT_DELETION_DELAY_S,
    ConditionReason,
    ConditionType,
    RayService,
    RayServiceSpec,
    UpgradeType,
)
from rayop.crdgen import generate
from rayop.crdgen.render import render_crd

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"


def rayservice_samples() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(SAMPLES.glob("ray-service.*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RayService":
                docs[path.name] = doc
    return docs


def _missing(expected: Any, actual: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path]
        return [m for k, v in expected.items() for m in _missing(v, actual.get(k), f"{path}.{k}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [path]
        pairs = enumerate(zip(expected, actual, strict=True))
        return [m for i, (e, a) in pairs for m in _missing(e, a, f"{path}[{i}]")]
    return [] if expected == actual else [path]


@pytest.fixture(scope="module")
def crd_schema() -> dict[str, Any]:
    crd = render_crd(RayService, generate.load_k8s_schemas())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_every_kuberay_rayservice_sample_parses():
    services = {name: RayService.parse(doc) for name, doc in rayservice_samples().items()}
    assert len(services) == 4
    custom = services["ray-service.custom-serve-service.yaml"]
    assert custom.spec.serve_service is not None


@pytest.mark.parametrize("name", sorted(rayservice_samples()))
def test_sample_round_trips_through_the_wire_form(name: str):
    doc = rayservice_samples()[name]
    svc = RayService.parse(doc)
    assert _missing(doc, svc.to_wire()) == []
    assert RayService.parse(svc.to_wire()) == svc


def test_ray_cluster_config_is_the_raycluster_spec_model():
    svc = RayService.parse(rayservice_samples()["ray-service.sample.yaml"])
    assert isinstance(svc.spec.ray_cluster_config, RayClusterSpec)
    assert "fruit_app" in (svc.spec.serve_config_v2 or "")


def test_serve_config_v2_keeps_kuberays_capital_v():
    spec = RayServiceSpec.model_validate({"serveConfigV2": "applications: []", "rayClusterConfig": {
        "headGroupSpec": {"template": {}}}})
    assert spec.to_wire()["serveConfigV2"] == "applications: []"


def test_deletion_delay_defaults_to_kuberays_sixty_seconds():
    spec = RayServiceSpec.model_validate({"rayClusterConfig": {"headGroupSpec": {"template": {}}}})
    assert spec.deletion_delay_seconds() == DEFAULT_DELETION_DELAY_S == 60
    spec.ray_cluster_deletion_delay_seconds = 0
    assert spec.deletion_delay_seconds() == 0


def test_ray_cluster_config_is_required(crd_schema: dict[str, Any]):
    assert crd_schema["properties"]["spec"]["required"] == ["rayClusterConfig"]


def test_plain_bools_have_no_crd_default(crd_schema: dict[str, Any]):
    spec = crd_schema["properties"]["spec"]["properties"]
    assert "default" not in spec["suspend"]
    assert "default" not in spec["excludeHeadPodFromServeSvc"]


def test_cluster_upgrade_options_carry_kuberays_bounds_and_required(crd_schema: dict[str, Any]):
    options = crd_schema["properties"]["spec"]["properties"]["upgradeStrategy"]["properties"]["clusterUpgradeOptions"]
    props = options["properties"]
    assert props["maxSurgePercent"]["default"] == 100
    assert (props["maxSurgePercent"]["minimum"], props["maxSurgePercent"]["maximum"]) == (0, 100)
    assert (props["stepSizePercent"]["minimum"], props["stepSizePercent"]["maximum"]) == (0, 100)
    assert props["intervalSeconds"]["minimum"] == 1
    assert sorted(options["required"]) == ["gatewayClassName", "intervalSeconds", "stepSizePercent"]


def test_step_size_above_max_surge_is_a_cel_rule(crd_schema: dict[str, Any]):
    options = crd_schema["properties"]["spec"]["properties"]["upgradeStrategy"]["properties"]["clusterUpgradeOptions"]
    assert [r["message"] for r in options["x-kubernetes-validations"]] == [
        "stepSizePercent must be less than or equal to maxSurgePercent"]


def test_upgrade_type_has_no_crd_enum_as_in_kuberay(crd_schema: dict[str, Any]):
    strategy = crd_schema["properties"]["spec"]["properties"]["upgradeStrategy"]["properties"]
    assert "enum" not in strategy["type"]
    assert [t.value for t in UpgradeType] == ["NewCluster", "NewClusterWithIncrementalUpgrade", "None"]


def test_managed_by_has_kuberays_cel_rules(crd_schema: dict[str, Any]):
    rules = crd_schema["properties"]["spec"]["properties"]["managedBy"]["x-kubernetes-validations"]
    assert [r["message"] for r in rules] == [
        "the managedBy field is immutable",
        "the managedBy field value must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'",
    ]


def test_deletion_delay_has_minimum_zero(crd_schema: dict[str, Any]):
    assert crd_schema["properties"]["spec"]["properties"]["rayClusterDeletionDelaySeconds"]["minimum"] == 0


def test_status_sides_carry_cluster_name_and_application_statuses():
    svc = RayService.parse({"spec": {"rayClusterConfig": {"headGroupSpec": {"template": {}}}}, "status": {
        "activeServiceStatus": {"rayClusterName": "s-abcde", "applicationStatuses": {"app": {
            "status": "RUNNING", "serveDeploymentStatuses": {"D": {"status": "HEALTHY"}}}}},
        "numServeEndpoints": 2, "serviceStatus": "Running", "observedGeneration": 3}})
    assert svc.status is not None and svc.status.active_service_status is not None
    app = (svc.status.active_service_status.application_statuses or {})["app"]
    assert (app.status, (app.serve_deployment_statuses or {})["D"].status) == ("RUNNING", "HEALTHY")
    assert svc.status.num_serve_endpoints == 2


def test_conditions_types_and_reasons_are_kuberays():
    assert [t.value for t in ConditionType] == ["Ready", "UpgradeInProgress", "RollbackInProgress", "Suspending",
                                                 "Suspended"]
    assert {"Initializing", "InitializingTimeout", "ZeroServeEndpoints", "NonZeroServeEndpoints",
            "BothActivePendingClustersExist", "NoPendingCluster", "NoActiveCluster", "ValidationFailed",
            "DesiredClusterSpecChanged", "SuspendRequested", "SuspendInProgress", "SuspendComplete",
            "RayServiceResumed"} == {r.value for r in ConditionReason}


def test_crd_info_has_kuberays_names_versions_and_printer_columns():
    info = RayService.crd
    assert (info.group, info.plural, info.versions, info.storage_version, info.deprecated_versions) == (
        "ray.io", "rayservices", ("v1", "v1alpha1"), "v1", ("v1alpha1",))
    assert [(c.name, c.json_path, c.type) for c in info.printer_columns] == [
        ("service status", ".status.serviceStatus", "string"),
        ("num serve endpoints", ".status.numServeEndpoints", "integer"),
    ]
