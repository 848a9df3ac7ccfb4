"""The import contracts: rayop's layers point one way, and production never imports the local mode.

api ← kube ← runtime ← kinds ← main. ``autoscaler``, ``gcs_ha`` and ``serve_rollout`` use api, kube and the runtime,
never each other or a kind's internals. Every import is read from the source (the four source roots are one PEP 420
namespace, which per-folder import tools cannot follow), including imports inside functions, so a lazy import cannot
hide a wrong arrow. A deliberate wrong import (e.g. ``from rayop.operator.raycluster import children`` in
``rayop/operator/runtime/runner.py``) fails :func:`test_every_import_follows_the_layers`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = ("operator", "autoscaler", "gcs_ha", "serve_rollout", "local")
KINDS = ("rayop.operator.raycluster", "rayop.operator.rayjob", "rayop.operator.rayservice", "rayop.operator.kubeflow")
#: A kind may build on another (a RayJob runs on a RayCluster), never the other way round.
KIND_DEPENDS = {"rayop.operator.rayjob": ("rayop.operator.raycluster",),
                "rayop.operator.rayservice": ("rayop.operator.raycluster", "rayop.serve_rollout")}
SIDECARS = ("rayop.autoscaler", "rayop.gcs_ha", "rayop.serve_rollout")
#: Libraries (of SIDECARS) a kind builds on: the RayCluster's GCS fault tolerance lives in ``rayop.gcs_ha``.
KIND_LIBRARIES = {"rayop.operator.raycluster": ("rayop.gcs_ha",)}
PROCESS = ("rayop.operator.settings", "rayop.operator.metrics")

#: importer prefix -> the rayop prefixes it may import (longest matching importer prefix wins).
ALLOWED: dict[str, tuple[str, ...]] = {
    "rayop.api": ("rayop.api",),
    "rayop.kube": ("rayop.api", "rayop.kube"),
    "rayop.crdgen": ("rayop.api", "rayop.kube", "rayop.crdgen"),  # snapshot-k8s reads a live API server
    "rayop.operator.builders": ("rayop.api", "rayop.operator.builders"),
    "rayop.operator.settings": ("rayop.api", "rayop.operator.builders"),
    "rayop.operator.metrics": (),
    "rayop.operator.runtime": ("rayop.api", "rayop.kube", "rayop.operator.runtime", *PROCESS),
    **{kind: ("rayop.api", "rayop.kube", "rayop.operator.builders", "rayop.operator.runtime", *PROCESS, kind,
              *KIND_DEPENDS.get(kind, ()), *KIND_LIBRARIES.get(kind, ())) for kind in KINDS},
    "rayop.operator": ("rayop.api", "rayop.kube", "rayop.operator"),  # main, health, logs: the process
    **{side: ("rayop.api", "rayop.kube", "rayop.operator.runtime", side) for side in SIDECARS},
    "rayop.serve_rollout": ("rayop.api", "rayop.serve_rollout"),  # a library of pure decisions: vocabulary only
    "rayop.local": ("rayop.api", "rayop.kube", "rayop.crdgen", "rayop.local"),
    "rayop.cli": ("rayop",),
    "rayop.sdk": ("rayop.api", "rayop.sdk"),  # the synchronous user SDK: models only, never the operator
    "rayop.restapi": ("rayop.api", "rayop.sdk", "rayop.restapi"),  # the REST API is the SDK behind HTTP
    "rayop.usercli": ("rayop.api", "rayop.sdk", "rayop.restapi", "rayop.usercli"),  # rayop cluster|job|...
}


def _modules() -> dict[str, Path]:
    out = {}
    for root in SOURCE_ROOTS:
        for path in (ROOT / root / "rayop").rglob("*.py"):
            if "go" in path.relative_to(ROOT / root).parts:
                continue
            parts = list(path.relative_to(ROOT / root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == "rayop" or name.startswith("rayop.")]


def _allowed_for(module: str) -> tuple[str, ...] | None:
    best = max((p for p in ALLOWED if module == p or module.startswith(p + ".")), key=len, default=None)
    return None if best is None else ALLOWED[best]


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(modules: dict[str, Path]) -> list[str]:
    out = []
    for module, path in sorted(modules.items()):
        allowed = _allowed_for(module)
        if allowed is None:
            out.append(f"{module}: no layer declared for it in ALLOWED")
            continue
        for line, name in _imports(module, path):
            if not _within(name, allowed) and not _within(module, ("rayop.cli",)):
                where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                out.append(f"{where}:{line}: {module} imports {name}")
    return out


def test_every_import_follows_the_layers() -> None:
    assert violations(_modules()) == []


def test_production_never_imports_the_local_mode() -> None:
    bad = [f"{module} imports {name}" for module, path in _modules().items()
           if not _within(module, ("rayop.local", "rayop.cli"))
           for _, name in _imports(module, path) if _within(name, ("rayop.local",))]
    assert bad == []


@pytest.mark.parametrize(("importer", "target"), [
    ("rayop.operator.runtime.runner", "rayop.operator.raycluster.children"),
    ("rayop.api.raycluster", "rayop.kube.client"),
    ("rayop.autoscaler.loop", "rayop.operator.builders.pod"),
    ("rayop.autoscaler.loop", "rayop.gcs_ha"),
    ("rayop.kube.client", "rayop.operator.runtime.runner"),
    ("rayop.operator.raycluster.controller", "rayop.operator.main"),
    ("rayop.operator.raycluster.controller", "rayop.operator.rayjob.plan"),
    ("rayop.serve_rollout.rollout", "rayop.kube.client"),
    ("rayop.serve_rollout.rollout", "rayop.operator.runtime.children"),
    ("rayop.sdk.clusters", "rayop.kube.client"),
    ("rayop.sdk.clusters", "rayop.operator.raycluster.children"),
    ("rayop.operator.rayjob.controller", "rayop.gcs_ha.store"),
    ("rayop.gcs_ha.store", "rayop.operator.raycluster.controller"),
    ("rayop.gcs_ha.address", "rayop.operator.builders.gcs_ft"),
])
def test_a_wrong_import_is_caught(importer: str, target: str, tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(f"import {target}\n")
    assert violations({importer: path}) != []
