"""rayop's kwok examples reach ready on the control plane as `make demo` shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.raycluster import cluster_pods, wait_ready

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_gpu_example_places_gpu_workers_on_the_gpu_node_and_reports_two_gpus(
        operator: Any, custom: Any, core: Any, namespace: str) -> None:
    body = yaml.safe_load((EXAMPLES / "02-raycluster-gpu-kwok" / "raycluster.yaml").read_text())
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    cluster = wait_ready(custom, namespace, body["metadata"]["name"])
    pods = cluster_pods(core, namespace, body["metadata"]["name"])
    workers = [p for p in pods if p.metadata.labels["ray.io/node-type"] == "worker"]
    assert {p.spec.node_name for p in workers} == {"kwok-gpu-0"}
    assert cluster["status"]["desiredGPU"] == "2"
