"""Desired resource and replica totals of a cluster, for its status (``desiredCPU`` ...
``maxWorkerReplicas``).

Per pod KubeRay sums each container's requests, falling back to its limits per resource name; the cluster
total adds the head once and every non-suspended group ``replicas * numOfHosts`` times (unclamped).  GPUs are
all keys ending in ``gpu`` or naming a MIG slice; TPUs are ``google.com/tpu``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from rayop.api.accelerators import is_gpu_resource_key
from rayop.api.quantity import QuantityError, format_quantity, is_binary, parse_quantity
from rayop.api.types import MAX_INT32

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster, WorkerGroupSpec

TPU_RESOURCE = "google.com/tpu"


@dataclass(frozen=True)
class Totals:
    """Summed quantities of one resource, remembering whether it was written in binary units."""

    value: Fraction = Fraction(0)
    binary: bool = False

    def __str__(self) -> str:
        return format_quantity(self.value, self.binary)


def pod_resources(pod_spec: dict[str, Any]) -> dict[str, Totals]:
    """KubeRay's ``CalculatePodResource``: per container requests, else limits; summed over containers."""
    totals: dict[str, Totals] = {}
    for container in pod_spec.get("containers") or []:
        resources = container.get("resources") or {}
        merged = dict(resources.get("limits") or {})
        merged.update(resources.get("requests") or {})
        for name, quantity in merged.items():
            try:
                amount = parse_quantity(quantity)
            except QuantityError:
                continue
            prev = totals.get(name)
            binary = prev.binary if prev is not None else is_binary(quantity)
            totals[name] = Totals((prev.value if prev else Fraction(0)) + amount, binary)
    return totals


def _add(into: dict[str, Totals], add: dict[str, Totals], times: int) -> None:
    for name, total in add.items():
        prev = into.get(name)
        binary = prev.binary if prev is not None else total.binary
        into[name] = Totals((prev.value if prev else Fraction(0)) + total.value * times, binary)


def desired_resources(cluster: RayCluster) -> dict[str, Totals]:
    """Head once plus ``replicas * numOfHosts`` pods of every non-suspended group."""
    totals: dict[str, Totals] = {}
    _add(totals, pod_resources(cluster.spec.head_group_spec.template.get("spec") or {}), 1)
    for group in cluster.spec.worker_group_specs or []:
        if group.suspend:
            continue
        count = (group.replicas or 0) * group.effective_num_of_hosts()
        _add(totals, pod_resources(group.template.get("spec") or {}), count)
    return totals


def desired_status_resources(cluster: RayCluster) -> dict[str, str]:
    """``desiredCPU``, ``desiredMemory``, ``desiredGPU`` and ``desiredTPU`` as quantity strings."""
    totals = desired_resources(cluster)
    gpu = [t for name, t in totals.items() if is_gpu_resource_key(name)]
    gpu_total = Totals(sum((t.value for t in gpu), Fraction(0)), False)
    return {
        "desiredCPU": str(totals.get("cpu", Totals())),
        "desiredMemory": str(totals.get("memory", Totals())),
        "desiredGPU": str(gpu_total),
        "desiredTPU": str(totals.get(TPU_RESOURCE, Totals())),
    }


def desired_replicas(group: WorkerGroupSpec) -> int:
    """KubeRay's ``GetWorkerGroupDesiredReplicas``: 0 if suspended, else clamp(replicas) * numOfHosts."""
    if group.suspend:
        return 0
    minimum = group.min_replicas or 0
    maximum = group.max_replicas if group.max_replicas is not None else MAX_INT32
    replicas = group.replicas if group.replicas is not None else minimum
    replicas = maximum if minimum > maximum else max(minimum, min(replicas, maximum))
    return replicas * group.effective_num_of_hosts()


def replica_totals(cluster: RayCluster) -> dict[str, int]:
    """``desiredWorkerReplicas``, ``minWorkerReplicas`` and ``maxWorkerReplicas`` (saturated at int32)."""
    desired = minimum = maximum = 0
    for group in cluster.spec.worker_group_specs or []:
        if group.suspend:
            continue
        hosts = group.effective_num_of_hosts()
        desired += desired_replicas(group)
        minimum += (group.min_replicas or 0) * hosts
        maximum += (group.max_replicas if group.max_replicas is not None else MAX_INT32) * hosts
    return {
        "desiredWorkerReplicas": min(desired, MAX_INT32),
        "minWorkerReplicas": min(minimum, MAX_INT32),
        "maxWorkerReplicas": min(maximum, MAX_INT32),
    }
