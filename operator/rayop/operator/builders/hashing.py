"""The spec hash behind ``upgradeStrategy: Recreate`` (head pod annotation
``ray.io/upgrade-strategy-recreate-hash``).

Like KubeRay's ``GenerateHashWithoutReplicasAndWorkersToDelete``: SHA-1 of the spec's JSON,
base32hex-encoded, with the fields the autoscaler or schedulers change at runtime blanked out (replica
counts, workersToDelete, tolerations, scheduling gates) and the upgrade strategy itself ignored, so only real
template changes trigger a recreate.  The JSON is rayop's canonical (sorted-key) form, so hashes are stable
across rayop versions but not equal to KubeRay's; they are only ever compared with hashes rayop wrote itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster

_GROUP_RUNTIME_FIELDS = ("replicas", "minReplicas", "maxReplicas")
_POD_RUNTIME_FIELDS = ("tolerations", "schedulingGates")


def _strip_pod_runtime_fields(template: dict[str, Any]) -> None:
    pod_spec = template.get("spec")
    if isinstance(pod_spec, dict):
        for key in _POD_RUNTIME_FIELDS:
            pod_spec.pop(key, None)


def hashable_spec(cluster: RayCluster) -> dict[str, Any]:
    """The spec as hashed: wire form without replica counts, workersToDelete, tolerations and scheduling
    gates."""
    spec = cluster.spec.to_wire()
    spec.pop("upgradeStrategy", None)
    _strip_pod_runtime_fields(spec.get("headGroupSpec", {}).get("template", {}))
    for group in spec.get("workerGroupSpecs") or []:
        for key in _GROUP_RUNTIME_FIELDS:
            group.pop(key, None)
        # KubeRay's scaleStrategy is a struct, present even when empty: absent and {} must hash alike.
        strategy = group.pop("scaleStrategy", None) or {}
        strategy.pop("workersToDelete", None)
        if strategy:
            group["scaleStrategy"] = strategy
        _strip_pod_runtime_fields(group.get("template", {}))
    return spec


def json_hash(obj: Any) -> str:
    """base32hex(SHA-1(canonical JSON)), KubeRay's ``GenerateJsonHash`` encoding."""
    data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return base64.b32hexencode(hashlib.sha1(data).digest()).decode()


def spec_hash(cluster: RayCluster) -> str:
    """Hash of the cluster spec that changes only when pods would be built differently."""
    return json_hash(hashable_spec(cluster))
