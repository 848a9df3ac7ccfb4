"""``rayop crds generate`` and ``rayop crds check``: one source of truth for the CRDs, checked for drift."""

from __future__ import annotations

import difflib
import gzip
import json
from importlib import import_module
from pathlib import Path

from rayop.api.base import CustomResource

from .render import dump, render_crd
from .structural import K8sSchemas

#: The snapshot of Kubernetes' OpenAPI v3 components the embedded types are taken from (pinned release).
SNAPSHOT = Path(__file__).with_name("k8s_openapi_v1.36.3.json.gz")

#: Every resource rayop serves, as "module:Class" (imported lazily so a broken model names itself).
RESOURCES: tuple[str, ...] = ("rayop.api.raycluster:RayCluster", "rayop.api.rayjob:RayJob",
                              "rayop.api.kubeflow:TFJob", "rayop.api.kubeflow:PyTorchJob",
                              "rayop.api.kubeflow:XGBoostJob", "rayop.api.kubeflow:MPIJob",
                              "rayop.api.rayservice:RayService")


def load_k8s_schemas() -> K8sSchemas:
    with gzip.open(SNAPSHOT, "rt") as fh:
        return K8sSchemas(json.load(fh))


def resources() -> list[type[CustomResource]]:
    out = []
    for spec in RESOURCES:
        module, name = spec.split(":")
        out.append(getattr(import_module(module), name))
    return out


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "crds").is_dir():
            return parent
    raise FileNotFoundError("the rayop source tree (pyproject.toml and crds/) was not found")


def target_dirs(root: Path) -> list[Path]:
    """``crds/`` and the Helm chart's copy."""
    return [root / "crds", root / "helm" / "rayop" / "crds"]


#: CRD groups the chart installs only on request (a template under ``kubeflow-crds/``, value
#: ``kubeflow.installCRDs``): Helm installs everything in ``crds/`` unconditionally, and a cluster may already run
#: Kubeflow's own training-operator with these CRDs.
OPTIONAL_CHART_GROUPS = {"kubeflow.org": "kubeflow-crds"}


def destinations(root: Path, name: str) -> list[Path]:
    """Where one generated CRD file goes: ``crds/`` and the chart (``crds/``, or its optional folder)."""
    chart_dir = OPTIONAL_CHART_GROUPS.get(name.split("_", 1)[0], "crds")
    return [root / "crds" / name, root / "helm" / "rayop" / chart_dir / name]


def rendered() -> dict[str, str]:
    """File name → YAML text for every CRD."""
    k8s = load_k8s_schemas()
    out = {}
    for res in resources():
        info = res.crd
        out[f"{info.group}_{info.plural}.yaml"] = dump(render_crd(res, k8s))
    return out


def generate(root: Path | None = None) -> list[Path]:
    root = root or repo_root()
    written = []
    for name, text in rendered().items():
        for path in destinations(root, name):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


def check(root: Path | None = None) -> list[str]:
    """Problems (missing/stale files, with a short diff); empty when the committed CRDs match the models."""
    root = root or repo_root()
    problems = []
    generated = rendered()
    for name, text in generated.items():
        for path in destinations(root, name):
            if not path.exists():
                problems.append(f"{path} is missing; run `rayop crds generate`")
                continue
            current = path.read_text()
            if current != text:
                diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), str(path), "generated",
                                                 lineterm="", n=1))
                problems.append(f"{path} is stale; run `rayop crds generate`\n" + "\n".join(diff[:40]))
    return problems + hand_copies(root, set(generated))


def hand_copies(root: Path, generated: set[str]) -> list[str]:
    """CRD files in the chart that no model generates: the chart must never carry a hand-made copy."""
    expected = {path for name in generated for path in destinations(root, name)}
    chart = root / "helm" / "rayop"
    return [f"{path} is not generated from a model (a hand copy?); remove it"
            for folder in ("crds", *OPTIONAL_CHART_GROUPS.values())
            for path in sorted((chart / folder).glob("*.yaml")) if path not in expected]
