"""Elastic PyTorchJobs' HPA (training-operator ``pytorch/hpa.go``) and the PyTorchJob scale subresource it targets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rayop.api.kubeflow import PyTorchJob
from rayop.crdgen.generate import load_k8s_schemas
from rayop.crdgen.render import render_crd
from rayop.operator.kubeflow.hpa import spec_hash
from rayop.operator.kubeflow.pytorch import PyTorch, build_hpa
from rayop.operator.kubeflow.tf import TensorFlow
from tests.unit.kubeflow_fixtures import body, replica, view

pytestmark = pytest.mark.unit

PT = PyTorch()
CPU_80 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "06-kubeflow-jobs" / "pytorchjob-elastic.yaml"


def elastic(**policy: object) -> dict:
    return body(PT, {"Worker": replica("pytorch", 2)}, name="echo", elasticPolicy=policy)


def test_an_elastic_job_with_metrics_gets_an_hpa_named_after_it_over_its_workers_bounds() -> None:
    hpa = build_hpa(view(PT, elastic(minReplicas=1, maxReplicas=3, metrics=[CPU_80])))
    assert hpa is not None
    assert (hpa["apiVersion"], hpa["kind"], hpa["metadata"]["name"]) == ("autoscaling/v2", "HorizontalPodAutoscaler",
                                                                         "echo")
    assert hpa["spec"] == {"scaleTargetRef": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "echo"},
                           "minReplicas": 1, "maxReplicas": 3, "metrics": [CPU_80]}


def test_an_elastic_job_without_metrics_gets_no_hpa() -> None:
    assert build_hpa(view(PT, elastic(minReplicas=1, maxReplicas=3))) is None


def test_a_job_without_elastic_policy_gets_no_hpa() -> None:
    assert build_hpa(view(PT, body(PT, {"Worker": replica("pytorch", 2)}))) is None


def test_hpa_bounds_take_the_webhooks_defaults_one_bound_gives_the_other() -> None:
    hpa = build_hpa(view(PT, elastic(maxReplicas=4, metrics=[CPU_80])))
    assert hpa is not None and (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (4, 4)


def test_hpa_bounds_default_to_the_worker_replicas() -> None:
    hpa = build_hpa(view(PT, elastic(metrics=[CPU_80])))
    assert hpa is not None and (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 2)


def test_only_pytorch_asks_for_an_autoscaler() -> None:
    assert PT.autoscales and not TensorFlow().autoscales


def test_the_spec_hash_changes_with_the_metrics_and_not_with_key_order() -> None:
    a = {"minReplicas": 1, "maxReplicas": 3, "metrics": [CPU_80]}
    assert spec_hash(a) == spec_hash(dict(reversed(list(a.items()))))
    assert spec_hash(a) != spec_hash({**a, "maxReplicas": 4})


def test_the_pytorchjob_crd_has_a_scale_subresource_on_the_workers() -> None:
    crd = render_crd(PyTorchJob, load_k8s_schemas())
    assert crd["spec"]["versions"][0]["subresources"]["scale"] == {
        "specReplicasPath": ".spec.pytorchReplicaSpecs.Worker.replicas",
        "statusReplicasPath": ".status.replicaStatuses.Worker.active",
        "labelSelectorPath": ".status.replicaStatuses.Worker.selector"}


def test_the_elastic_example_parses_and_asks_for_an_hpa() -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    hpa = build_hpa(view(PT, {**doc, "metadata": {**doc["metadata"], "namespace": "ns", "uid": "u"}}))
    assert hpa is not None and hpa["spec"]["maxReplicas"] == 3


def test_elastic_bounds_with_min_above_max_are_invalid_naming_the_field() -> None:
    problems = PT.validate(view(PT, elastic(minReplicas=3, maxReplicas=2, metrics=[CPU_80])))
    assert problems == ["spec.elasticPolicy: minReplicas (3) must be at least 1 and at most maxReplicas (2)"]


def test_elastic_bounds_within_range_are_valid() -> None:
    assert PT.validate(view(PT, elastic(minReplicas=1, maxReplicas=3, metrics=[CPU_80]))) == []
