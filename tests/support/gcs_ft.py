"""KubeRay's external-Redis sample applied as its users apply it (every document), and the ``gcs-ft`` bench's Ray
client scripts that check a detached actor and a Serve app across head restarts, for the e2e test."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from benchmarks.rayop_bench.gcs_ft import INCREMENT as GCS_INCREMENT
from benchmarks.rayop_bench.gcs_ft import SETUP as GCS_SETUP

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples" / "ray-cluster.external-redis.yaml"
LOCAL = {"rayop.io/node-type": "local"}
REDIS_PASSWORD = "5241590000000000"  # the sample's

#: The Ray client scripts are the bench's (one copy): SETUP creates the sample's detached actor on the worker and a
#: Serve app and prints the counter's first value; INCREMENT is the sample's increment_counter.py.
SETUP, INCREMENT = GCS_SETUP, GCS_INCREMENT


def sample_docs(*, local: bool = True) -> list[dict[str, Any]]:
    """Every document of the sample; ``local`` adds only a nodeSelector (placement on the local node)."""
    docs = [copy.deepcopy(d) for d in yaml.safe_load_all(SAMPLE.read_text()) if d]
    if local:
        for doc in docs:
            if doc["kind"] == "Deployment":
                doc["spec"]["template"]["spec"]["nodeSelector"] = dict(LOCAL)
            if doc["kind"] == "RayCluster":
                for group in [doc["spec"]["headGroupSpec"], *doc["spec"]["workerGroupSpecs"]]:
                    group["template"]["spec"]["nodeSelector"] = dict(LOCAL)
    return docs


def apply(api_client: Any, namespace: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Create every document; returns the created RayCluster."""
    from kubernetes import client

    core, apps, custom = client.CoreV1Api(api_client), client.AppsV1Api(api_client), client.CustomObjectsApi(
        api_client)
    created: dict[str, Any] = {}
    for doc in docs:
        kind = doc["kind"]
        if kind == "ConfigMap":
            core.create_namespaced_config_map(namespace, doc)
        elif kind == "Secret":
            core.create_namespaced_secret(namespace, doc)
        elif kind == "Service":
            core.create_namespaced_service(namespace, doc)
        elif kind == "Deployment":
            apps.create_namespaced_deployment(namespace, doc)
        elif kind == "RayCluster":
            created = dict(custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", doc))
    return created


def run_client(script: str, head_ip: str, timeout: float = 300) -> str:
    """Run a Ray client script against ``ray://<head_ip>:10001``; retried while the new head's client server
    starts (a connection refused right after a restart)."""
    last = ""
    for _ in range(4):
        out = subprocess.run([sys.executable, "-c", script, f"ray://{head_ip}:10001"], capture_output=True,
                             text=True, timeout=timeout, check=False)
        if out.returncode == 0:
            return out.stdout.strip().splitlines()[-1]
        last = out.stderr[-3000:]
    raise AssertionError(f"ray client script failed: {last}")
