"""The hashes the rollout compares: the cluster spec without what the autoscaler changes, and the serve config.

The cluster hash leaves out what may change without a new cluster: worker ``replicas`` and
``scaleStrategy.workersToDelete`` (the autoscaler writes them) and ``suspend`` (it propagates only at creation), as
KubeRay's ``ray.io/hash-without-replicas-and-workers-to-delete`` does. ``prefix_hashes`` lets the rollout tell
"worker groups were appended" (update in place) from any other change (a new cluster).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rayop.api.raycluster import RayClusterSpec


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _hashed_form(spec: RayClusterSpec, groups: int | None = None) -> dict[str, Any]:
    wire = spec.to_wire()
    wire.pop("suspend", None)
    workers = []
    for group in wire.get("workerGroupSpecs") or []:
        group = dict(group)
        group.pop("replicas", None)
        strategy = dict(group.pop("scaleStrategy", None) or {})
        strategy.pop("workersToDelete", None)
        if strategy:
            group["scaleStrategy"] = strategy
        workers.append(group)
    if groups is not None:
        workers = workers[:groups]
    wire["workerGroupSpecs"] = workers
    return wire


def cluster_hash(spec: RayClusterSpec) -> str:
    """The hash of the whole cluster spec (without replicas, workersToDelete and suspend)."""
    return _digest(_hashed_form(spec))


def prefix_hashes(spec: RayClusterSpec) -> tuple[str, ...]:
    """``[n]`` is the hash with only the first ``n`` worker groups; the last entry equals :func:`cluster_hash`."""
    count = len(spec.worker_group_specs or [])
    return tuple(_digest(_hashed_form(spec, n)) for n in range(count + 1))


def serve_config_hash(config: str | None) -> str | None:
    """The hash of ``serveConfigV2`` as written (KubeRay compares the string too); None for no config."""
    if not config:
        return None
    return hashlib.sha256(config.encode()).hexdigest()[:32]
