"""The generated RayService CRD installs on the real API server, stores KubeRay's samples unchanged and rejects what
KubeRay's CRD (and rayop's stepSize/maxSurge rule) rejects, with KubeRay's messages.

Objects go to a private namespace that no operator watches, so the API server is the only judge.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.rest import ApiException

from rayop.local.controlplane.tools import bin_dir

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"
SAMPLE_FILES = sorted(SAMPLES.glob("ray-service.*.yaml"))
GROUP, PLURAL = "ray.io", "rayservices"


def _sample(path: Path) -> dict[str, Any]:
    [doc] = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "RayService"]
    return dict(doc)


BASE = _sample(SAMPLES / "ray-service.sample.yaml")


def _missing(expected: Any, actual: Any, path: str = "spec") -> list[str]:
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


def _svc(**spec: Any) -> dict[str, Any]:
    svc = copy.deepcopy(BASE)
    svc["spec"].update(spec)
    return svc


def _rejection(custom: Any, namespace: str, body: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, body, dry_run="All")
    assert info.value.status == 422, info.value.body
    return str(json.loads(info.value.body)["message"])


def _incremental(**options: Any) -> dict[str, Any]:
    return {"type": "NewClusterWithIncrementalUpgrade", "clusterUpgradeOptions": {
        "stepSizePercent": 10, "intervalSeconds": 5, "gatewayClassName": "istio", **options}}


def test_rayservice_crd_is_established_with_v1_stored_and_v1alpha1_deprecated(api_client: Any) -> None:
    from kubernetes import client

    crd = client.ApiextensionsV1Api(api_client).read_custom_resource_definition("rayservices.ray.io")
    assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    assert [(v.name, v.served, v.storage, bool(v.deprecated)) for v in crd.spec.versions] == [
        ("v1", True, True, False), ("v1alpha1", True, False, True)]


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_kuberay_sample_rayservice_is_stored_unchanged(custom: Any, private_namespace: str, path: Path) -> None:
    sample = _sample(path)
    created = custom.create_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, sample, dry_run="All")
    assert _missing(sample["spec"], created["spec"]) == []


def test_kubectl_get_prints_kuberays_columns(control_plane: Any, private_namespace: str) -> None:
    kubectl = [str(bin_dir() / "kubectl"), "--kubeconfig", str(control_plane.kubeconfig)]
    subprocess.run([*kubectl, "create", "-n", private_namespace, "-f", "-"], input=yaml.safe_dump(_svc()),
                   check=True, capture_output=True, text=True)
    out = subprocess.run([*kubectl, "get", "rayservices", "-n", private_namespace], check=True,
                         capture_output=True, text=True).stdout
    assert out.splitlines()[0].split() == ["NAME", "SERVICE", "STATUS", "NUM", "SERVE", "ENDPOINTS"]


def test_default_max_surge_is_one_hundred(custom: Any, private_namespace: str) -> None:
    created = custom.create_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL,
                                                     _svc(upgradeStrategy=_incremental()), dry_run="All")
    assert created["spec"]["upgradeStrategy"]["clusterUpgradeOptions"]["maxSurgePercent"] == 100


def test_step_size_above_max_surge_is_rejected(custom: Any, private_namespace: str) -> None:
    body = _svc(upgradeStrategy=_incremental(stepSizePercent=60, maxSurgePercent=50))
    assert "stepSizePercent must be less than or equal to maxSurgePercent" in _rejection(custom, private_namespace,
                                                                                        body)


def test_cluster_upgrade_options_need_gateway_class_and_interval(custom: Any, private_namespace: str) -> None:
    body = _svc(upgradeStrategy={"type": "NewClusterWithIncrementalUpgrade",
                                 "clusterUpgradeOptions": {"stepSizePercent": 10}})
    message = _rejection(custom, private_namespace, body)
    assert "clusterUpgradeOptions.intervalSeconds: Required value" in message
    assert "clusterUpgradeOptions.gatewayClassName: Required value" in message


def test_negative_deletion_delay_is_rejected(custom: Any, private_namespace: str) -> None:
    message = _rejection(custom, private_namespace, _svc(rayClusterDeletionDelaySeconds=-1))
    assert "spec.rayClusterDeletionDelaySeconds: Invalid value: -1" in message


def test_ray_cluster_config_is_required(custom: Any, private_namespace: str) -> None:
    body = _svc()
    del body["spec"]["rayClusterConfig"]
    assert "spec.rayClusterConfig: Required value" in _rejection(custom, private_namespace, body)


def test_managed_by_accepts_only_kuberay_or_multikueue(custom: Any, private_namespace: str) -> None:
    message = _rejection(custom, private_namespace, _svc(managedBy="someone-else"))
    assert "the managedBy field value must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'" \
        in message


def test_managed_by_is_immutable(custom: Any, private_namespace: str) -> None:
    body = _svc(managedBy="ray.io/kuberay-operator")
    body["metadata"]["name"] = "immutable-managed-by"
    custom.create_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, body)
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object(GROUP, "v1", private_namespace, PLURAL, "immutable-managed-by",
                                              {"spec": {"managedBy": "kueue.x-k8s.io/multikueue"}})
    assert info.value.status == 422
    assert "the managedBy field is immutable" in str(json.loads(info.value.body)["message"])


def test_v1alpha1_is_served_with_a_deprecation_warning(control_plane: Any, private_namespace: str) -> None:
    kubectl = [str(bin_dir() / "kubectl"), "--kubeconfig", str(control_plane.kubeconfig)]
    out = subprocess.run([*kubectl, "create", "-n", private_namespace, "--dry-run=server", "-f", "-"],
                         input=yaml.safe_dump({**_svc(), "apiVersion": "ray.io/v1alpha1"}), check=True,
                         capture_output=True, text=True)
    assert "ray.io/v1alpha1 RayService is deprecated" in out.stderr
