"""RayCluster helpers for tests that talk to the real control plane: samples, reads and waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.helpers import wait_for

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"
def load_sample(name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((SAMPLES / name).read_text()) if d and d.get("kind") == "RayCluster"]
    return docs[0]


def get_cluster(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    return dict(custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name))


def cluster_pods(core: Any, namespace: str, name: str) -> list[Any]:
    return list(core.list_namespaced_pod(namespace, label_selector=f"ray.io/cluster={name}").items)


def wait_ready(custom: Any, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for(lambda: (c := get_cluster(custom, namespace, name)).get("status", {}).get("state") == "ready"
                    and c, timeout=timeout, what=f"RayCluster {name} ready")
