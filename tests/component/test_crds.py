"""The generated CRDs install on the real API server and accept KubeRay's manifests unchanged."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from rayop.local.controlplane.tools import bin_dir

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"


def _missing(expected: Any, actual: Any, path: str = "spec") -> list[str]:
    """Paths present in ``expected`` but absent or different in ``actual``."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path]
        return [m for k, v in expected.items() for m in _missing(v, actual.get(k), f"{path}.{k}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [path]
        return [m for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for m in _missing(e, a, f"{path}[{i}]")]
    return [] if expected == actual else [path]


def test_kubectl_explain_prints_the_head_group_spec_descriptions(control_plane: Any) -> None:
    out = subprocess.run(
        [str(bin_dir() / "kubectl"), "--kubeconfig", str(control_plane.kubeconfig), "explain",
         "raycluster.spec.headGroupSpec"],
        check=True, capture_output=True, text=True,
    ).stdout
    assert "rayStartParams" in out
    assert "template" in out
    assert "<none>" not in out.split("FIELDS:")[0], out


def test_kuberay_sample_raycluster_is_accepted_unchanged(custom: Any, namespace: str) -> None:
    sample = yaml.safe_load((SAMPLES / "ray-cluster.sample.yaml").read_text())
    created = custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", sample)
    stored = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters",
                                                 created["metadata"]["name"])
    # Structural pruning keeps every field the sample sets (defaults such as numOfHosts may be added).
    assert _missing(sample["spec"], stored["spec"]) == []


def test_raycluster_is_also_served_as_v1alpha1(custom: Any, namespace: str) -> None:
    sample = yaml.safe_load((SAMPLES / "ray-cluster.sample.yaml").read_text())
    sample["apiVersion"] = "ray.io/v1alpha1"
    custom.create_namespaced_custom_object("ray.io", "v1alpha1", namespace, "rayclusters", sample)
    got = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", sample["metadata"]["name"])
    assert got["spec"]["headGroupSpec"] == sample["spec"]["headGroupSpec"]
