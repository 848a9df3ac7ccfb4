"""kwok-managed fake nodes: their shapes and the Node objects that describe them.

kwok keeps these nodes Ready (heartbeats and Leases) and moves pods bound to them through its "fast" stages
(Running and Ready with a pod IP; Succeeded for pods owned by Jobs; deletion finished). The shapes are what makes
scheduling real: kube-scheduler places pods by these capacities, labels and taints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Annotation kwok selects the nodes it manages by; local nodes (real processes) never carry it.
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
#: Label telling kwok nodes apart from rayop's local nodes.
NODE_TYPE_LABEL = "rayop.io/node-type"
GPU_RESOURCE = "nvidia.com/gpu"
ACCELERATOR_LABEL = "ray.io/accelerator-type"


@dataclass(frozen=True)
class NodeShape:
    """How many nodes of one kind to create, and what each offers."""

    name_prefix: str
    count: int
    cpu: str = "32"
    memory: str = "128Gi"
    pods: int = 250
    ephemeral_storage: str = "1Ti"
    gpus: int = 0
    #: Other extended resources, e.g. {"google.com/tpu": "4"}.
    extra_resources: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] = ()


def default_shapes() -> tuple[NodeShape, ...]:
    """Several CPU nodes, one GPU node (8 x nvidia.com/gpu) and a 2-host TPU v4 slice, with accelerator labels."""
    return (
        NodeShape("kwok-cpu", count=4, cpu="32", memory="128Gi", pods=250),
        NodeShape(
            "kwok-gpu",
            count=1,
            cpu="32",
            memory="256Gi",
            pods=110,
            gpus=8,
            labels={
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB",
                ACCELERATOR_LABEL: "A100",
            },
        ),
        NodeShape(
            "kwok-tpu",
            count=2,
            cpu="16",
            memory="128Gi",
            pods=20,
            extra_resources={"google.com/tpu": "4"},
            labels={
                "cloud.google.com/gke-tpu-accelerator": "tpu-v4-podslice",
                "cloud.google.com/gke-tpu-topology": "2x2x2",
            },
        ),
    )


def build_kwok_node(name: str, shape: NodeShape) -> dict[str, Any]:
    """The Node object kwok will adopt (status is filled in by kwok's node-initialize stage)."""
    capacity: dict[str, str] = {
        "cpu": shape.cpu, "memory": shape.memory, "pods": str(shape.pods), "ephemeral-storage": shape.ephemeral_storage,
    }
    if shape.gpus:
        capacity[GPU_RESOURCE] = str(shape.gpus)
    capacity.update(shape.extra_resources)
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/role": "agent",
        "node-role.kubernetes.io/agent": "",
        "type": "kwok",
        NODE_TYPE_LABEL: "kwok",
        **shape.labels,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1],
                "node.alpha.kubernetes.io/ttl": "0",
            },
        },
        "spec": {"taints": [dict(t) for t in shape.taints]} if shape.taints else {},
        "status": {
            "allocatable": dict(capacity),
            "capacity": dict(capacity),
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
            },
            "phase": "Running",
        },
    }


def node_names(shapes: tuple[NodeShape, ...]) -> list[str]:
    """Every node name the shapes describe, in creation order."""
    return [f"{s.name_prefix}-{i}" for s in shapes for i in range(s.count)]
