"""RayCluster handlers (filled in by the RayCluster reconciler)."""

from __future__ import annotations

import kopf


def register(registry: kopf.OperatorRegistry) -> None:
    """Register the RayCluster handlers."""
