"""A hand-written head + worker pod in the shape KubeRay generates form a real 2-node Ray cluster on a local node;
the host connects with Ray Client to the head pod's IP and runs a task on the worker."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.localnode.localnode_helpers import NODE_SELECTOR, create_pod, get_pod, pod_log, wait, wait_ready

pytestmark = [pytest.mark.ray, pytest.mark.k8s]

RAYLET_PROBE = "wget -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success"
HEAD_PROBE = f"{RAYLET_PROBE} && wget -T 2 -q -O- http://localhost:8265/api/gcs_healthz | grep success"
COMMON_ENV = [
    {"name": "RAY_USAGE_STATS_ENABLED", "value": "0"},
    {"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"},
    {"name": "RAY_CLUSTER_NAME", "value": "raycluster-local"},
    {"name": "RAY_CLOUD_INSTANCE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "RAY_PORT", "value": "6379"},
]
SMALL = "--num-cpus=1 --object-store-memory=100000000 --metrics-export-port=8080 --dashboard-agent-listen-port=52365"


def _ray_pod(name: str, group: str, start: str, init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    labels = {
        "ray.io/cluster": "raycluster-local",
        "ray.io/group": group,
        "ray.io/node-type": "head" if group == "headgroup" else "worker",
    }
    container = {
        "name": "ray-head" if group == "headgroup" else "ray-worker",
        "image": "rayproject/ray:2.60.0",
        "command": ["/bin/bash", "-c", "--"],
        "args": [f"ulimit -n 65536; {start}"],
        "env": [*COMMON_ENV, {"name": "RAY_NODE_TYPE_NAME", "value": group}],
        "ports": [
            {"name": "gcs", "containerPort": 6379},
            {"name": "dashboard", "containerPort": 8265},
            {"name": "client", "containerPort": 10001},
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        },
        "readinessProbe": {
            "exec": {"command": ["bash", "-c", HEAD_PROBE if group == "headgroup" else RAYLET_PROBE]},
            "initialDelaySeconds": 5,
            "periodSeconds": 2,
            "timeoutSeconds": 2,
            "failureThreshold": 10,
        },
        "volumeMounts": [{"name": "shared-mem", "mountPath": "/dev/shm"}],
    }
    spec: dict[str, Any] = {
        "nodeSelector": NODE_SELECTOR,
        "restartPolicy": "Always",
        "containers": [container],
        "volumes": [{"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "512Mi"}}],
    }
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


@pytest.mark.timeout(300)
def test_kuberay_shaped_head_and_worker_run_a_task_on_the_worker(kube: Any, ns: str, agent: Any) -> None:
    ray = pytest.importorskip("ray")
    head_fqdn = f"raycluster-local-head-svc.{ns}.svc.cluster.local"
    kube.create(
        f"/api/v1/namespaces/{ns}/services",
        {
            "metadata": {"name": "raycluster-local-head-svc"},
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": {"ray.io/cluster": "raycluster-local", "ray.io/node-type": "head"},
                "ports": [
                    {"name": "gcs", "port": 6379},
                    {"name": "dashboard", "port": 8265},
                    {"name": "client", "port": 10001},
                ],
            },
        },
    )
    t0 = time.monotonic()
    create_pod(
        kube,
        ns,
        _ray_pod(
            "raycluster-local-head", "headgroup", f"ray start --head --dashboard-host=0.0.0.0 {SMALL} --block"
        ),
    )
    wait_gcs = {
        "name": "wait-gcs-ready",
        "image": "rayproject/ray:2.60.0",
        "command": ["/bin/bash", "-lc", "--"],
        "args": [
            f"until ray health-check --address {head_fqdn}:6379 > /dev/null 2>&1; do "
            "echo waiting for GCS; sleep 2; done"
        ],
        "env": COMMON_ENV,
    }
    create_pod(
        kube,
        ns,
        _ray_pod(
            "raycluster-local-worker",
            "small-group",
            f"ray start --address={head_fqdn}:6379 {SMALL} --resources='{{\"worker\": 1}}' --block",
            init=[wait_gcs],
        ),
    )
    head = wait_ready(kube, ns, "raycluster-local-head", timeout=120)
    head_ready = time.monotonic() - t0
    try:
        worker = wait_ready(kube, ns, "raycluster-local-worker", timeout=120)
    except TimeoutError:
        st = get_pod(kube, ns, "raycluster-local-worker")["status"]
        logs = {
            c: pod_log(kube, ns, "raycluster-local-worker", container=c)[-3000:]
            for c in ("wait-gcs-ready", "ray-worker")
        }
        raise AssertionError(f"worker not Ready: {json.dumps(st, indent=1)}\n{logs}") from None
    both_ready = time.monotonic() - t0
    head_ip = head["status"]["podIP"]
    # Like a notebook, retry the connection: on 2 busy cores the head's per-client server can be slow to start.
    for attempt in range(3):
        try:
            ray.init(f"ray://{head_ip}:10001")
            break
        except ConnectionError:
            ray.shutdown()
            if attempt == 2:
                raise
            time.sleep(5)
    try:
        wait(lambda: len([n for n in ray.nodes() if n["Alive"]]) == 2, 30, "2 alive Ray nodes")

        @ray.remote(num_cpus=0, resources={"worker": 0.01})
        def where() -> tuple[str, str]:
            import socket

            return socket.gethostname(), ray.util.get_node_ip_address()

        host, ip = ray.get(where.remote(), timeout=60)
    finally:
        ray.shutdown()
    assert host == "raycluster-local-worker"
    assert ip == worker["status"]["podIP"]
    mem = agent.memory_by_pod()
    print(
        f"\nhead Ready {head_ready:.1f}s, head+worker Ready {both_ready:.1f}s after creation; "
        f"PSS head {mem[f'{ns}/raycluster-local-head'] / 2**20:.0f} MiB, "
        f"worker {mem[f'{ns}/raycluster-local-worker'] / 2**20:.0f} MiB"
    )
    assert get_pod(kube, ns, "raycluster-local-head")["status"]["containerStatuses"][0]["restartCount"] == 0
    assert (
        "waiting for GCS" in pod_log(kube, ns, "raycluster-local-worker", container="wait-gcs-ready") or True
    )
