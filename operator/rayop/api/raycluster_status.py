"""The RayCluster status (``RayClusterStatus``), field-complete with KubeRay v1."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rayop.api.base import ApiModel
from rayop.api.conditions import Condition
from rayop.api.types import (
    DateTime,
    Int32,
    Int64,
    Quantity,
)


class HeadInfo(ApiModel):
    """Addresses of the head pod and Service."""

    pod_ip: str | None = Field(default=None, alias="podIP")
    """Head pod IP."""
    pod_name: str | None = None
    """Head pod name."""
    service_ip: str | None = Field(default=None, alias="serviceIP")
    """Head Service ClusterIP, or the head pod IP when the Service is headless."""
    service_name: str | None = None
    """Head Service name."""


class RayClusterStatus(ApiModel):
    """Observed state of a Ray cluster."""

    state: Literal["ready", "failed", "suspended"] | None = None
    """Deprecated overall state; use conditions."""
    desired_cpu: Quantity | None = Field(default=None, alias="desiredCPU")
    """Total desired CPUs of head and workers."""
    desired_memory: Quantity | None = None
    """Total desired memory of head and workers."""
    desired_gpu: Quantity | None = Field(default=None, alias="desiredGPU")
    """Total desired GPUs of head and workers."""
    desired_tpu: Quantity | None = Field(default=None, alias="desiredTPU")
    """Total desired TPUs of head and workers."""
    last_update_time: DateTime | None = None
    """When the status was last computed."""
    state_transition_times: dict[str, DateTime] | None = None
    """Time of the last transition into each state."""
    endpoints: dict[str, str] | None = None
    """Head Service port name to NodePort or target port."""
    head: HeadInfo | None = None
    """Head pod and Service addresses."""
    reason: str | None = None
    """Details about the current state."""
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Latest observations (HeadPodReady, RayClusterProvisioned, ReplicaFailure, Suspending, Suspended)."""
    ready_worker_replicas: Int32 | None = None
    """Worker pods Running and Ready."""
    available_worker_replicas: Int32 | None = None
    """Worker pods Running."""
    desired_worker_replicas: Int32 | None = None
    """Sum of clamp(replicas) * numOfHosts over non-suspended groups."""
    min_worker_replicas: Int32 | None = None
    """Sum of minReplicas * numOfHosts over non-suspended groups."""
    max_worker_replicas: Int32 | None = None
    """Sum of maxReplicas * numOfHosts over non-suspended groups (saturated at int32)."""
    observed_generation: Int64 | None = None
    """metadata.generation this status was computed from."""
