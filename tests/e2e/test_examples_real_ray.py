"""Through the operator, on a local node: rayop's examples form working Ray clusters a notebook can use."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.raycluster import cluster_pods, wait_ready

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "01-raycluster-local" / "raycluster.yaml"

#: What a notebook does: connect with the Ray client and run a task that needs a worker's CPU.
CLIENT = """
import socket, sys
import ray
ray.init(sys.argv[1], logging_level="ERROR")
@ray.remote(num_cpus=1)
def where():
    import socket
    return socket.gethostname()
print(ray.get(where.remote(), timeout=120))
ray.shutdown()
"""


def _example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def _run_task(head_ip: str) -> str:
    # Like a notebook, retry a failed connection: on 2 busy cores the head's per-client server can start slowly.
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", CLIENT, f"ray://{head_ip}:10001"], capture_output=True,
                             text=True, timeout=240, check=False)
        if out.returncode == 0 or "ConnectionAbortedError" not in out.stderr:
            break
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_example_cluster_runs_a_notebook_task_on_its_worker(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    body = _example()
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    cluster = wait_ready(custom, namespace, name, timeout=240)
    worker = next(p for p in cluster_pods(core, namespace, name) if p.metadata.labels["ray.io/node-type"] == "worker")
    assert worker.spec.node_name.startswith("rayop-local")  # a real process, not a kwok simulation
    assert _run_task(cluster["status"]["head"]["podIP"]) == worker.metadata.name


@pytest.mark.timeout(900)
def test_two_clusters_in_different_namespaces_each_use_the_standard_ports(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    other = f"{namespace}-b"
    core.create_namespace({"metadata": {"name": other}})
    try:
        body = _example()
        name = body["metadata"]["name"]
        for ns in (namespace, other):
            custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayclusters", copy.deepcopy(body))
        clusters = [wait_ready(custom, ns, name, timeout=300) for ns in (namespace, other)]
        ips = [c["status"]["head"]["podIP"] for c in clusters]
        assert ips[0] != ips[1]
        for ns, ip in zip((namespace, other), ips, strict=True):
            worker = next(p for p in cluster_pods(core, ns, name) if p.metadata.labels["ray.io/node-type"] == "worker")
            assert _run_task(ip) == worker.metadata.name
    finally:
        core.delete_namespace(other)
