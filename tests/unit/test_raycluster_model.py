"""The RayCluster models accept every KubeRay sample and carry KubeRay's schema details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from rayop.api.raycluster import MAX_INT32, UNSUPPORTED_ALPHA_FIELDS, RayCluster, RayClusterStatus
from rayop.operator.builders import hashing, resources
from tests.unit.raycluster_fixtures import SAMPLE, make_cluster

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"


def raycluster_samples() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(SAMPLES.glob("ray-cluster.*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "RayCluster"]
    return docs


def test_every_kuberay_raycluster_sample_parses():
    clusters = [RayCluster.parse(doc) for doc in raycluster_samples()]
    assert len(clusters) == 11


def test_parse_rejects_a_spec_without_head_group():
    with pytest.raises(ValidationError):
        RayCluster.parse({"metadata": {"name": "x"}, "spec": {}})


def test_parse_rejects_a_worker_group_without_name():
    obj = {"metadata": {"name": "x"}, "spec": {**SAMPLE["spec"], "workerGroupSpecs": [{"template": {}}]}}
    with pytest.raises(ValidationError):
        RayCluster.parse(obj)


def test_parse_rejects_unknown_enum_values():
    with pytest.raises(ValidationError):
        make_cluster(**{"spec.upgradeStrategy": {"type": "Rolling"}})


def test_worker_group_defaults_match_kuberay_crd_defaults():
    cluster = RayCluster.parse(
        {
            "metadata": {"name": "x"},
            "spec": {**SAMPLE["spec"], "workerGroupSpecs": [{"groupName": "g", "template": {}}]},
        }
    )
    group = cluster.spec.worker_group_specs[0]
    assert (group.replicas, group.min_replicas, group.max_replicas, group.num_of_hosts) == (0, 0, MAX_INT32, 1)


def test_unknown_fields_are_ignored():
    make_cluster(**{"spec.somethingNew": 1})


def test_wire_form_round_trips_camel_case():
    cluster = make_cluster(**{"spec.enableInTreeAutoscaling": True})
    wire = cluster.spec.to_wire()
    assert wire["enableInTreeAutoscaling"] is True
    assert wire["workerGroupSpecs"][0]["groupName"] == "small-group"
    assert RayCluster.parse({"metadata": {}, "spec": wire}).spec == cluster.spec


def test_status_uses_kuberays_uppercase_field_names():
    status = RayClusterStatus.model_validate({"desiredCPU": "2", "head": {"podIP": "1.2.3.4", "serviceIP": "5.6.7.8"}})
    assert status.desired_cpu == "2"
    assert status.to_wire() == {"desiredCPU": "2", "head": {"podIP": "1.2.3.4", "serviceIP": "5.6.7.8"}}


def test_crd_info_has_kuberays_printer_columns_and_versions():
    info = RayCluster.crd
    assert (info.group, info.plural, info.versions, info.storage_version) == (
        "ray.io",
        "rayclusters",
        ("v1", "v1alpha1"),
        "v1",
    )
    assert [c.name for c in info.printer_columns] == [
        "desired workers",
        "available workers",
        "cpus",
        "memory",
        "gpus",
        "tpus",
        "status",
        "age",
        "head pod IP",
        "head service IP",
    ]


def _walk_properties(schema: dict[str, Any], defs: dict[str, Any], seen: set[str]):
    for name, prop in (schema.get("properties") or {}).items():
        yield name, prop
        refs = [prop.get("$ref")] + [a.get("$ref") for a in prop.get("anyOf", [])]
        refs += [prop.get("items", {}).get("$ref")] + [a.get("items", {}).get("$ref") for a in prop.get("anyOf", [])]
        for ref in filter(None, refs):
            key = ref.split("/")[-1]
            if key not in seen:
                seen.add(key)
                yield from _walk_properties(defs[key], defs, seen)


def test_every_field_has_a_description():
    schema = RayCluster.model_json_schema(by_alias=True)
    missing = [n for n, p in _walk_properties(schema, schema["$defs"], set()) if not p.get("description")]
    assert missing == []


def test_managed_by_has_kuberays_cel_rules():
    schema = RayCluster.model_json_schema(by_alias=True)
    rules = schema["$defs"]["RayClusterSpec"]["properties"]["managedBy"]["x-kubernetes-validations"]
    assert {r["message"] for r in rules} == {
        "the managedBy field is immutable",
        "the managedBy field value must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'",
    }


def test_gcs_backend_is_immutable():
    schema = RayCluster.model_json_schema(by_alias=True)
    rules = schema["$defs"]["GcsFaultToleranceOptions"]["properties"]["backend"]["x-kubernetes-validations"]
    assert rules == [{"rule": "self == oldSelf", "message": "gcsFaultToleranceOptions.backend is immutable"}]


def test_worker_group_min_max_rule_uses_kuberays_message():
    schema = RayCluster.model_json_schema(by_alias=True)
    rules = schema["$defs"]["WorkerGroupSpec"]["x-kubernetes-validations"]
    assert {
        "rule": "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
        "message": "worker group has minReplicas greater than maxReplicas",
    } in rules


def test_alpha_addons_are_listed_as_unsupported():
    assert set(UNSUPPORTED_ALPHA_FIELDS) >= {"spec.networkPolicy", "spec.tlsOptions", "spec.historyServerOptions"}


def test_spec_hash_ignores_replicas_and_workers_to_delete():
    base = hashing.spec_hash(make_cluster())
    scaled = make_cluster(
        **{"spec.workerGroupSpecs.0.replicas": 7, "spec.workerGroupSpecs.0.scaleStrategy": {"workersToDelete": ["a"]}}
    )
    assert hashing.spec_hash(scaled) == base
    assert hashing.spec_hash(make_cluster(**{"spec.rayVersion": "2.10.0"})) != base


def test_desired_resources_sum_head_and_replicas():
    cluster = make_cluster()
    assert resources.desired_status_resources(cluster) == {
        "desiredCPU": "4",
        "desiredMemory": "4Gi",
        "desiredGPU": "9",
        "desiredTPU": "0",
    }
    assert resources.replica_totals(cluster) == {
        "desiredWorkerReplicas": 3,
        "minWorkerReplicas": 0,
        "maxWorkerReplicas": 10,
    }


def test_desired_replicas_are_clamped_and_multiplied_by_hosts():
    cluster = make_cluster(**{"spec.workerGroupSpecs.0.replicas": 20, "spec.workerGroupSpecs.0.numOfHosts": 2})
    assert resources.desired_replicas(cluster.spec.worker_group_specs[0]) == 20
