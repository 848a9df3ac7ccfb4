"""The rayop source checkout the local mode reads its CRDs (``crds/``) and ``examples/`` from.

The local mode's own copy of this lookup, so that it does not reach into the CRD generator (``rayop.crdgen``) for it.
"""

from __future__ import annotations

from pathlib import Path


def repo_root() -> Path:
    """The nearest ancestor of this file holding ``pyproject.toml`` and ``crds/`` (i.e. a source checkout)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "crds").is_dir():
            return parent
    raise FileNotFoundError("the rayop source tree (pyproject.toml and crds/) was not found")
