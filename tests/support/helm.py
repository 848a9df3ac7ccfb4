"""Where the tests find helm: the tool cache of ``make tools``, or ``$RAYOP_HELM_BIN`` (a helm built elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

from rayop.local.controlplane.tools import bin_dir


def helm_binary() -> Path:
    return Path(os.environ.get("RAYOP_HELM_BIN") or bin_dir() / "helm")


def isolated_env(name: str) -> dict[str, str]:
    """An environment for helm that reads no user config and keeps its caches under ``/tmp/<name>``."""
    return {"HOME": "/nonexistent", "HELM_CACHE_HOME": f"/tmp/{name}/cache", "HELM_CONFIG_HOME": f"/tmp/{name}/config",
            "HELM_DATA_HOME": f"/tmp/{name}/data", "PATH": "/usr/bin:/bin"}
