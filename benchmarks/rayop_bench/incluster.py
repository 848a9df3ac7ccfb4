"""A local node for the RayJob scenarios, and KubeRay run on it as its users run it: a pod with in-cluster config.

KubeRay v1.5.0 reaches a RayJob's dashboard at ``<cluster>-head-svc.<ns>.svc.cluster.local:8265``, a name only
cluster DNS resolves; run on the host it would never see a job finish (the host's resolver does not know the name).
The local node runs a pod's container command as a host process and ignores the image, and gives it what a kubelet
and cluster networking would (env, the projected service-account token, a cluster DNS stand-in, ClusterIP DNAT), so
a Deployment whose command is the path of the binary built from KubeRay's module is KubeRay as deployed by its chart:
a ServiceAccount, the ClusterRole and leader-election Role from the module's ``config/rbac``, leader election in the
pod's namespace, the chart's default flags.

Resources differ from the chart on purpose: the chart limits the operator to 100m CPU, and rayop runs unlimited on
the host, so the pod asks for 100m and has no CPU limit (memory limited to 1Gi).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from rayop.kube.client import Conflict, KubeClient
from rayop.kube.config import from_kubeconfig
from rayop.local.controlplane.cluster import ControlPlane
from rayop.local.controlplane.processes import Component

from . import kuberay

NAMESPACE = "ray-system"
NAME = "kuberay-operator"
LOCAL_SELECTOR = {"rayop.io/node-type": "local"}
KWOK_SELECTOR = {"rayop.io/node-type": "kwok"}
#: Not the tests' state directory: a bench and a test run never share the agent's files.
STATE_DIR = Path("/var/lib/rayop-localnode-bench")
PROBE_PORT = 8082
#: CPU the bench's local node advertises. Pods there are host processes, so capacity is bookkeeping for the scheduler;
#: the host's 2 cores would not fit KubeRay's pod beside KubeRay's external-Redis sample (head and worker ask 1 CPU
#: each), and a deleted head, counted by the scheduler until its processes exit, would hold back its replacement.
#: Every peer gets the same node.
NODE_CPU = "8"


def start_local_node(cp: ControlPlane, logdir: Path, wait: float = 1200.0) -> Component:
    """One local node agent as a subprocess, returned once its node is Ready.

    Only one agent can run on a machine (a lock): if a test run holds it, the agent queues for it (``--lock-wait``).
    """
    comp = Component("rayop-localnode", [
        sys.executable, "-m", "rayop.local.localnode", "--kubeconfig", str(cp.kubeconfig), "--nodes", "1",
        "--state-dir", str(STATE_DIR), "--restart-backoff", "1", "--lock-wait", str(wait),
        "--cpu", NODE_CPU,
    ], logdir / "rayop-localnode.log")
    comp.start()
    deadline = time.monotonic() + wait + 60
    while comp.alive() and cp.ready_nodes("local") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    if comp.alive() and cp.ready_nodes("local") >= 1:
        return comp
    tail = comp.log_tail()
    comp.stop()
    raise RuntimeError(f"local node not Ready:\n{tail}")


def rbac_objects() -> list[dict[str, Any]]:
    """The ServiceAccount, ClusterRole(Binding) and leader-election Role(Binding) of the module's config/rbac."""
    base = kuberay.module_dir() / "config" / "rbac"
    out: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "ServiceAccount",
                                  "metadata": {"name": NAME, "namespace": NAMESPACE}}]
    for name in ("role.yaml", "role_binding.yaml", "leader_election_role.yaml", "leader_election_role_binding.yaml"):
        for doc in yaml.safe_load_all((base / name).read_text()):
            if not doc:
                continue
            if doc["kind"] in ("Role", "RoleBinding"):
                doc["metadata"]["namespace"] = NAMESPACE
            for subject in doc.get("subjects") or []:
                subject["namespace"] = NAMESPACE
            out.append(doc)
    return out


def deployment(binary: Path, flags: list[str]) -> dict[str, Any]:
    """KubeRay's Deployment (config/manager/manager.yaml and the chart), its command the built binary."""
    labels = {"app.kubernetes.io/name": "kuberay", "app.kubernetes.io/component": NAME}
    container = {
        "name": NAME, "image": f"quay.io/kuberay/operator:{kuberay.version()}", "command": [str(binary)],
        "args": [f"--health-probe-bind-address=:{PROBE_PORT}", "--metrics-addr=:8080", *flags],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": PROBE_PORT}, "periodSeconds": 1},
        "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, "namespace": NAMESPACE,
                                                                    "labels": labels},
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"serviceAccountName": NAME, "nodeSelector": LOCAL_SELECTOR,
                                       "terminationGracePeriodSeconds": 10, "containers": [container]}}},
    }


def start_kuberay(kubeconfig: Path, flags: list[str], timeout: float = 120.0) -> tuple[int, str]:
    """Create KubeRay's namespace, RBAC and Deployment; return (host pid of the operator, pod name) once its
    ``/readyz`` answers on the pod IP (leader elected, caches synced)."""
    binary = kuberay.ensure_binary()
    pod = asyncio.run(_apply_and_wait(kubeconfig, binary, flags, timeout))
    ip = pod["status"]["podIP"]
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"http://{ip}:{PROBE_PORT}/readyz",
                                                                  timeout=2) as resp:
            if resp.status == 200:
                break
        if time.monotonic() > deadline:
            raise TimeoutError(f"KubeRay pod {pod['metadata']['name']} not ready at {ip}:{PROBE_PORT}")
        time.sleep(0.2)
    pid = find_pid(binary)
    if pid is None:
        raise RuntimeError(f"no process runs {binary}")
    return pid, pod["metadata"]["name"]


async def _apply_and_wait(kubeconfig: Path, binary: Path, flags: list[str], timeout: float) -> dict[str, Any]:
    client = KubeClient(from_kubeconfig(kubeconfig), field_manager="rayop-bench")
    try:
        objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}, *rbac_objects(),
                deployment(binary, flags)]
        for obj in objs:
            with contextlib.suppress(Conflict):
                await client.create(obj)
        deadline = time.monotonic() + timeout
        while True:
            pods = await client.list("v1", "pods", NAMESPACE, "app.kubernetes.io/component=" + NAME)
            running = [p for p in pods if (p.get("status") or {}).get("podIP")
                       and (p.get("status") or {}).get("phase") == "Running"]
            if running:
                return running[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"KubeRay pod not running: {[p.get('status') for p in pods]}")
            await asyncio.sleep(0.2)
    finally:
        await client.close()


def find_pid(binary: Path) -> int | None:
    """The host pid of the process whose executable is ``binary`` (the pod's container, seen from the host)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "exe") == str(binary):
                    return int(entry.name)
    return None


def log_of() -> Path | None:
    """The agent's log file of the KubeRay container (copied into the run's logs)."""
    found = sorted(STATE_DIR.glob(f"pods/*/logs/{NAME}/*.log"))
    return found[-1] if found else None
