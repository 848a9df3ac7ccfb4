"""Which container resource keys are accelerators: one predicate for the builders (``num-gpus`` in ``ray start``)
and the autoscaler (a group's GPU shape), so the two can never disagree on what a GPU is."""

from __future__ import annotations

import re

_MIG_RE = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")


def is_gpu_resource_key(key: str) -> bool:
    """Keys ending in ``gpu`` (``nvidia.com/gpu``) or NVIDIA MIG slices (``nvidia.com/mig-2g.32gb``), as KubeRay's
    ``getGPUCount`` and Ray's KubeRay node provider both count them."""
    return key.endswith("gpu") or _MIG_RE.search(key) is not None
