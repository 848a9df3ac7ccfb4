"""Where the tests find helm: the tool cache of ``make tools``, or ``$RAYOP_HELM_BIN`` (a helm built elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

from rayop.local.controlplane.tools import bin_dir


def helm_binary() -> Path:
    return Path(os.environ.get("RAYOP_HELM_BIN") or bin_dir() / "helm")
