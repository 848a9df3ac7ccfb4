"""Where generated CRDs land in the Helm chart, and that a hand-made copy there is caught by ``rayop crds check``."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayop.crdgen.generate import destinations, hand_copies

pytestmark = pytest.mark.unit


def test_ray_crds_go_to_crds_and_the_charts_crds_folder() -> None:
    root = Path("/src")
    assert destinations(root, "ray.io_rayclusters.yaml") == [
        root / "crds" / "ray.io_rayclusters.yaml", root / "helm" / "rayop" / "crds" / "ray.io_rayclusters.yaml"]


def test_kubeflow_crds_go_to_the_charts_optional_folder_not_the_one_helm_always_installs() -> None:
    root = Path("/src")
    name = "kubeflow.org_tfjobs.yaml"
    assert destinations(root, name) == [root / "crds" / name, root / "helm" / "rayop" / "kubeflow-crds" / name]


def test_a_crd_in_the_chart_that_no_model_generates_is_reported(tmp_path: Path) -> None:
    for folder in ("crds", "kubeflow-crds"):
        (tmp_path / "helm" / "rayop" / folder).mkdir(parents=True)
    (tmp_path / "helm" / "rayop" / "crds" / "ray.io_rayclusters.yaml").write_text("generated")
    (tmp_path / "helm" / "rayop" / "crds" / "ray.io_rayfoos.yaml").write_text("by hand")
    (tmp_path / "helm" / "rayop" / "kubeflow-crds" / "kubeflow.org_tfjobs.yaml").write_text("by hand")
    problems = hand_copies(tmp_path, {"ray.io_rayclusters.yaml"})
    assert len(problems) == 2
    assert all("not generated from a model" in p for p in problems)
    assert any("ray.io_rayfoos.yaml" in p for p in problems) and any("kubeflow.org_tfjobs" in p for p in problems)
