"""RayCluster fixtures shared by the builder and validation tests (KubeRay's pod_test.go cluster, in YAML terms)."""

from __future__ import annotations

import copy
from typing import Any

from rayop.api.raycluster import RayCluster

SAMPLE: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "metadata": {"name": "raycluster-sample", "namespace": "default", "uid": "0b2f3c1e"},
    "spec": {
        "rayVersion": "2.9.0",
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "ray-head",
                            "image": "rayproject/ray:2.9.0",
                            "resources": {
                                "limits": {"cpu": "1", "memory": "1Gi"},
                                "requests": {"cpu": "1", "memory": "1Gi"},
                            },
                        }
                    ]
                }
            },
        },
        "workerGroupSpecs": [
            {
                "groupName": "small-group",
                "replicas": 3,
                "minReplicas": 0,
                "maxReplicas": 10,
                "rayStartParams": {"port": "6379"},
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-worker",
                                "image": "rayproject/ray:2.9.0",
                                "resources": {"limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "3"}},
                            }
                        ]
                    }
                },
            }
        ],
    },
}


def make_cluster(**changes: Any) -> RayCluster:
    """The sample cluster with dotted-path changes applied, e.g. ``make_cluster(**{"spec.rayVersion": "2.53.0"})``."""
    obj = copy.deepcopy(SAMPLE)
    for path, value in changes.items():
        target: Any = obj
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target.setdefault(key, {})
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return RayCluster.parse(obj)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's env vars by name."""
    return {e["name"]: e for e in container.get("env", [])}
