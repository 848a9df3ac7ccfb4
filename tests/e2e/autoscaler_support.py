"""Shared parts of the real-Ray autoscaler tests: a notebook-style driver, a recorder of pods / replicas / GCS node
states, and cluster helpers. The driver runs as a notebook would (``ray://<head ip>:10001`` in a subprocess); the
recorder reads the GCS node table with ``GcsClient`` against ``<head ip>:6379`` (never ``ray.init``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.raycluster import cluster_pods, get_cluster, wait_ready

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "03-raycluster-autoscaler" / "raycluster.yaml"
KUBERAY_AUTOSCALER_ARGS = [
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"]

#: Prelude of every driver: connect like a notebook, and a helper listing the live worker nodes (CPU > 0).
PRELUDE = """
import json, sys, time
import ray
ray.init(sys.argv[1], logging_level="ERROR")

def workers():
    return {n["NodeID"]: n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0}

def report(**kw):
    print("RESULT " + json.dumps(kw), flush=True)
"""

#: A 1-CPU task that holds its worker for ``seconds`` and returns the pod it ran on (to follow ``PRELUDE``).
HOLD = """
@ray.remote(num_cpus=1)
def hold(seconds):
    import socket, time
    time.sleep(seconds)
    return socket.gethostname()
"""


def run_driver(script: str, head_ip: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    # A connection refused at ray.init (the head's per-client server starting slowly on 2 busy cores) happens before
    # the driver does anything, so retrying it, as a notebook user would, does not change the scenario.
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", script, f"ray://{head_ip}:10001", *args], capture_output=True,
                             text=True, timeout=timeout, check=False)
        if out.returncode == 0 or "ConnectionAbortedError" not in out.stderr:
            break
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT "):]))


@dataclass
class Recorder:
    """Samples worker pods and the GCS node table every ``period`` seconds in a background thread."""

    core: Any
    custom: Any
    namespace: str
    name: str
    head_ip: str
    period: float = 0.5
    #: pod name -> first time seen / time seen Running / time gone.
    pod_seen: dict[str, float] = field(default_factory=dict)
    pod_running: dict[str, float] = field(default_factory=dict)
    pod_gone: dict[str, float] = field(default_factory=dict)
    #: instance id (pod name) -> [(time, GCS node status)] whenever the status changes.
    ray_status: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    #: worker group -> [(time, replicas)] whenever they change.
    replicas: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    #: worker pod name -> its group (``ray.io/group``).
    pod_group: dict[str, str] = field(default_factory=dict)
    #: instance id -> first time GCS listed the node as draining (``GetDrainingNodes`` or status DRAINING).
    drain_seen: dict[str, float] = field(default_factory=dict)
    #: instance id -> (Ray node id, death reason, death message) from the node table, read at the end.
    deaths: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        try:
            self._read_deaths()
        except Exception as exc:
            self.errors.append(f"node table: {exc!r}"[:300])

    def _read_deaths(self) -> None:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]

        for node_id, info in GcsClient(address=f"{self.head_ip}:6379").get_all_node_info(timeout=10).items():
            reasons = info.death_info.DESCRIPTOR.fields_by_name["reason"].enum_type.values_by_number
            self.deaths[info.instance_id] = (node_id.hex(), reasons[info.death_info.reason].name,
                                             info.death_info.reason_message)

    def _run(self) -> None:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]
        from ray.autoscaler.v2.sdk import get_cluster_resource_state
        from ray.core.generated.autoscaler_pb2 import NodeStatus

        gcs = GcsClient(address=f"{self.head_ip}:6379")
        while not self._stop.is_set():
            now = time.time()
            try:
                live = set()
                for pod in cluster_pods(self.core, self.namespace, self.name):
                    if pod.metadata.labels.get("ray.io/node-type") != "worker":
                        continue
                    live.add(pod.metadata.name)
                    self.pod_seen.setdefault(pod.metadata.name, now)
                    self.pod_group[pod.metadata.name] = pod.metadata.labels.get("ray.io/group", "")
                    if pod.status.phase == "Running":
                        self.pod_running.setdefault(pod.metadata.name, now)
                for group, replicas in all_replicas(self.custom, self.namespace, self.name).items():
                    series = self.replicas.setdefault(group, [])
                    if not series or series[-1][1] != replicas:
                        series.append((now, replicas))
                for gone in set(self.pod_seen) - live - set(self.pod_gone):
                    self.pod_gone[gone] = now
                draining = {str(k) for k in gcs.get_draining_nodes()}
                for node in get_cluster_resource_state(gcs).node_states:
                    history = self.ray_status.setdefault(node.instance_id, [])
                    status = NodeStatus.Name(node.status)
                    if not history or history[-1][1] != status:
                        history.append((now, status))
                    if status == "DRAINING" or bytes(node.node_id).hex() in draining:
                        self.drain_seen.setdefault(node.instance_id, now)
            except Exception as exc:  # keep sampling; the test reports errors if it fails
                self.errors.append(f"{now:.1f} {exc!r}"[:300])
            self._stop.wait(self.period)

    def max_replicas(self, group: str) -> int:
        """The most replicas ``group`` ever had while recording (a double scale-up would show here)."""
        return max((r for _, r in self.replicas.get(group, [])), default=0)

    def statuses(self, pod: str) -> list[str]:
        return [s for _, s in self.ray_status.get(pod, [])]

    def first(self, pod: str, status: str) -> float | None:
        return next((t for t, s in self.ray_status.get(pod, []) if s == status), None)


def example_body(**autoscaler_options: Any) -> dict[str, Any]:
    body = yaml.safe_load(EXAMPLE.read_text())
    body["spec"]["autoscalerOptions"].update(autoscaler_options)
    return dict(body)


def worker_pods(core: Any, namespace: str, name: str) -> list[Any]:
    return [p for p in cluster_pods(core, namespace, name) if p.metadata.labels.get("ray.io/node-type") == "worker"]


def all_replicas(custom: Any, namespace: str, name: str) -> dict[str, int]:
    """Worker group name -> ``replicas`` in the RayCluster spec."""
    return {str(g["groupName"]): int(g.get("replicas", 0))
            for g in get_cluster(custom, namespace, name)["spec"]["workerGroupSpecs"]}


def group_replicas(custom: Any, namespace: str, name: str, group: str = "cpu") -> int:
    return all_replicas(custom, namespace, name)[group]


def start_cluster(custom: Any, core: Any, namespace: str, body: dict[str, Any]) -> tuple[str, str]:
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    try:
        cluster = wait_ready(custom, namespace, name, timeout=180)
    except AssertionError:
        print(diagnose(core, custom, namespace, name))
        raise
    head = next(p for p in cluster_pods(core, namespace, name) if p.metadata.labels["ray.io/node-type"] == "head")
    assert head.spec.node_name.startswith("rayop-local")
    assert [c.name for c in head.spec.containers] == ["ray-head", "autoscaler"]
    assert worker_pods(core, namespace, name) == []
    return name, str(cluster["status"]["head"]["podIP"])


def autoscaler_log(core: Any, namespace: str, name: str) -> str:
    head = next(p for p in cluster_pods(core, namespace, name) if p.metadata.labels["ray.io/node-type"] == "head")
    try:
        return str(core.read_namespaced_pod_log(head.metadata.name, namespace, container="autoscaler",
                                                tail_lines=80))
    except Exception as exc:
        return f"(no log: {exc})"


def diagnose(core: Any, custom: Any, namespace: str, name: str) -> str:
    lines = [f"status: {get_cluster(custom, namespace, name).get('status')}"]
    for pod in cluster_pods(core, namespace, name):
        lines.append(f"pod {pod.metadata.name} {pod.status.phase} {pod.status.container_statuses}")
        for c in pod.spec.containers:
            try:
                log = core.read_namespaced_pod_log(pod.metadata.name, namespace, container=c.name, tail_lines=40)
            except Exception as exc:
                log = f"(no log: {exc})"
            lines.append(f"--- {c.name} log:\n{log}")
    lines += [f"event {e.reason}: {e.message}" for e in core.list_namespaced_event(namespace).items]
    return "\n".join(lines)


def cluster_events(core: Any, namespace: str, name: str) -> list[Any]:
    return [e for e in core.list_namespaced_event(namespace).items
            if e.involved_object.kind == "RayCluster" and e.involved_object.name == name]


