"""rayop's autoscaler end to end: a RayCluster on the local node grows with a notebook's demand and shrinks back when
idle, draining every removed worker through GCS first (issue 5 acceptance, real Ray).

The driver runs as a notebook would (``ray://<head ip>:10001`` in a subprocess) and reports, from inside Ray, when its
demand appeared and when the new Ray nodes joined. Meanwhile a recorder thread in the test samples the worker pods and
the head's GCS node table (``GcsClient`` against ``<head ip>:6379``; no ``ray.init``), so the test can show that each
removed node was DRAINING in Ray before its pod disappeared, and measure how long that took.
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

import pytest
import yaml

from tests.component.test_raycluster import cluster_pods, get_cluster, wait_ready
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "03-raycluster-autoscaler" / "raycluster.yaml"
GROUP = "cpu"
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

#: Two tasks of 1 CPU each, held for a while, on a cluster with no worker: needs two new workers.
DEMAND = PRELUDE + """
@ray.remote(num_cpus=1)
def hold(seconds):
    import socket, time
    time.sleep(seconds)
    return socket.gethostname()

before = set(workers())
t0 = time.time()
refs = [hold.remote(20) for _ in range(2)]
joined = {}
while True:
    for node_id in workers():
        if node_id not in before and node_id not in joined:
            joined[node_id] = time.time()
    done, _ = ray.wait(refs, num_returns=len(refs), timeout=0.5)
    if len(done) == len(refs) or time.time() - t0 > 400:
        break
hosts = ray.get(refs, timeout=60)
del refs
report(submitted=t0, joined=joined, hosts=hosts, done=time.time())
ray.shutdown()
"""

#: A detached actor (1 CPU) plus a task (1 CPU): two workers; the actor's must outlive the idle timeout.
DETACHED = PRELUDE + """
@ray.remote(num_cpus=1)
class Keeper:
    def where(self):
        import socket
        return socket.gethostname()

@ray.remote(num_cpus=1)
def hold(seconds):
    import socket, time
    time.sleep(seconds)
    return socket.gethostname()

t0 = time.time()
keeper = Keeper.options(name="keeper", namespace="autoscaler-e2e", lifetime="detached").remote()
ref = hold.remote(5)
actor_host = ray.get(keeper.where.remote(), timeout=400)
task_host = ray.get(ref, timeout=400)
report(submitted=t0, actor_host=actor_host, task_host=task_host, done=time.time())
ray.shutdown()
"""

#: Later: the detached actor still answers from the same worker; then it is killed.
DETACHED_CHECK = PRELUDE + """
keeper = ray.get_actor("keeper", namespace="autoscaler-e2e")
host = ray.get(keeper.where.remote(), timeout=60)
ray.kill(keeper)
report(actor_host=host, done=time.time())
ray.shutdown()
"""


#: ``ray.autoscaler.sdk.request_resources(bundles=argv[2])``, called from a 0-CPU task on the head (the SDK needs
#: a worker's GCS connection, which a Ray client driver does not have).
REQUEST = PRELUDE + """
@ray.remote(num_cpus=0)
def ask(bundles):
    from ray.autoscaler.sdk import request_resources
    request_resources(bundles=bundles)

ray.get(ask.remote(json.loads(sys.argv[2])), timeout=60)
report(done=time.time())
ray.shutdown()
"""

#: A STRICT_SPREAD placement group of two 1-CPU bundles: needs two distinct workers.
SPREAD = PRELUDE + """
from ray.util.placement_group import placement_group, placement_group_table, remove_placement_group

pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
ray.get(pg.ready(), timeout=400)
nodes = sorted(set(placement_group_table(pg)["bundles_to_node_id"].values()))
report(nodes=nodes, workers=len(workers()), done=time.time())
remove_placement_group(pg)
ray.shutdown()
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
    #: (time, replicas of the cpu group) whenever it changes.
    replicas: list[tuple[float, int]] = field(default_factory=list)
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
                    if pod.status.phase == "Running":
                        self.pod_running.setdefault(pod.metadata.name, now)
                replicas = _replicas(self.custom, self.namespace, self.name)
                if not self.replicas or self.replicas[-1][1] != replicas:
                    self.replicas.append((now, replicas))
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

    def statuses(self, pod: str) -> list[str]:
        return [s for _, s in self.ray_status.get(pod, [])]

    def first(self, pod: str, status: str) -> float | None:
        return next((t for t, s in self.ray_status.get(pod, []) if s == status), None)


def _example(**autoscaler_options: Any) -> dict[str, Any]:
    body = yaml.safe_load(EXAMPLE.read_text())
    body["spec"]["autoscalerOptions"].update(autoscaler_options)
    return dict(body)


def _workers(core: Any, namespace: str, name: str) -> list[Any]:
    return [p for p in cluster_pods(core, namespace, name) if p.metadata.labels.get("ray.io/node-type") == "worker"]


def _replicas(custom: Any, namespace: str, name: str) -> int:
    return int(get_cluster(custom, namespace, name)["spec"]["workerGroupSpecs"][0].get("replicas", 0))


def _start(custom: Any, core: Any, namespace: str, body: dict[str, Any]) -> tuple[str, str]:
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    try:
        cluster = wait_ready(custom, namespace, name, timeout=180)
    except AssertionError:
        print(_diagnose(core, custom, namespace, name))
        raise
    head = next(p for p in cluster_pods(core, namespace, name) if p.metadata.labels["ray.io/node-type"] == "head")
    assert head.spec.node_name.startswith("rayop-local")
    assert [c.name for c in head.spec.containers] == ["ray-head", "autoscaler"]
    assert _workers(core, namespace, name) == []
    return name, str(cluster["status"]["head"]["podIP"])


def _autoscaler_log(core: Any, namespace: str, name: str) -> str:
    head = next(p for p in cluster_pods(core, namespace, name) if p.metadata.labels["ray.io/node-type"] == "head")
    try:
        return str(core.read_namespaced_pod_log(head.metadata.name, namespace, container="autoscaler",
                                                tail_lines=80))
    except Exception as exc:
        return f"(no log: {exc})"


def _diagnose(core: Any, custom: Any, namespace: str, name: str) -> str:
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


def _events(core: Any, namespace: str, name: str) -> list[Any]:
    return [e for e in core.list_namespaced_event(namespace).items
            if e.involved_object.kind == "RayCluster" and e.involved_object.name == name]


def _scale_up_and_down(custom: Any, core: Any, namespace: str, body: dict[str, Any], label: str,
                       ) -> tuple[str, dict[str, Any], Recorder]:
    """The first acceptance scenario; returns the cluster name, the driver's report and the recording."""
    idle_timeout = float(body["spec"]["autoscalerOptions"]["idleTimeoutSeconds"])
    name, head_ip = _start(custom, core, namespace, body)
    with Recorder(core, custom, namespace, name, head_ip) as rec:
        try:
            result = run_driver(DEMAND, head_ip)
            pods = {p.metadata.name for p in _workers(core, namespace, name)}
            # The tasks ran, on two new workers (pods of the cpu group, a real process each).
            assert sorted(result["hosts"]) == sorted(pods) and len(pods) == 2, (result, pods)
            assert len(result["joined"]) == 2
            wait_for(lambda: not _workers(core, namespace, name) and _replicas(custom, namespace, name) == 0,
                     timeout=idle_timeout + 180, interval=1, what="the cpu group back at minReplicas (0)")
            wait_for(lambda: set(rec.pod_gone) >= pods, timeout=10, interval=0.5, what="recorder saw pods go")
        except AssertionError:
            print(_autoscaler_log(core, namespace, name))
            raise
    assert not rec.errors or len(rec.errors) < 5, rec.errors
    # Drained first: each removed node was DRAINING in Ray's node table before its pod disappeared.
    for pod in sorted(pods):
        print(f"{pod}: GCS status {rec.ray_status.get(pod)}, drain seen {rec.drain_seen.get(pod)}, "
              f"pod gone {rec.pod_gone.get(pod)}, node table {rec.deaths.get(pod)}")
    # Drained first. A drained idle node leaves almost at once (its raylet exits, the pod is deleted right after the
    # patch), so the DRAINING state is rarely caught by sampling; Ray's node table keeps the proof: the node died
    # for AUTOSCALER_DRAIN_IDLE with the autoscaler's reason, before its pod disappeared.
    drained: dict[str, float] = {}
    for pod in pods:
        assert "IDLE" in rec.statuses(pod), rec.ray_status[pod]
        assert rec.deaths[pod][1] == "AUTOSCALER_DRAIN_IDLE", rec.deaths[pod]
        assert "idle termination by rayop autoscaler" in rec.deaths[pod][2] or label != "rayop autoscaler"
        drained[pod] = min(t for t in (rec.drain_seen.get(pod), rec.first(pod, "DEAD")) if t is not None)
        assert drained[pod] <= rec.pod_gone[pod], (pod, rec.ray_status[pod], rec.pod_gone[pod])
    submitted, done = float(result["submitted"]), float(result["done"])
    joins = sorted(float(t) - submitted for t in result["joined"].values())
    pods_gone = sorted(rec.pod_gone[p] - (done + idle_timeout) for p in pods)
    drain_to_gone = sorted(rec.pod_gone[p] - drained[p] for p in pods)
    scaled_up = next(t for t, r in rec.replicas if r == 2)
    print(f"\n[{label}] demand -> new Ray node joined: {', '.join(f'{t:.1f}s' for t in joins)}"
          f"\n[{label}] demand -> replicas patched 0→2: {scaled_up - submitted:.1f}s"
          f"\n[{label}] pod seen -> Running: "
          f"{', '.join(f'{rec.pod_running[p] - rec.pod_seen[p]:.1f}s' for p in sorted(pods))}"
          f"\n[{label}] idle timeout ({idle_timeout:.0f}s after the tasks ended) -> pod gone: "
          f"{', '.join(f'{t:.1f}s' for t in pods_gone)}"
          f"\n[{label}] drained in GCS -> pod gone: {', '.join(f'{t:.1f}s' for t in drain_to_gone)}")
    return name, result, rec


@pytest.mark.timeout(900)
def test_notebook_demand_scales_the_cpu_group_up_then_idle_workers_are_drained_and_removed(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    name, _, _ = _scale_up_and_down(custom, core, namespace, _example(), "rayop autoscaler")
    # The autoscaler explained itself: events for the scale-up and the drained scale-down, and the annotation.
    events = _events(core, namespace, name)
    reasons = {e.reason for e in events}
    assert {"AutoscalerScaleUp", "AutoscalerScaleDown"} <= reasons, [(e.reason, e.message) for e in events]
    up = next(e for e in events if e.reason == "AutoscalerScaleUp")
    assert "cpu" in up.message and "0→2" in up.message, up.message
    # Once the operator has deleted the pods, workersToDelete is cleared again.
    wait_for(lambda: not (get_cluster(custom, namespace, name)["spec"]["workerGroupSpecs"][0].get("scaleStrategy")
                          or {}).get("workersToDelete"), timeout=30, interval=1, what="workersToDelete cleared")
    annotation = json.loads(get_cluster(custom, namespace, name)["metadata"]["annotations"]
                            ["rayop.io/autoscaler-last-decision"])
    assert "time" in annotation and "reasons" in annotation
    for e in events:
        print(f"event {e.reason}: {e.message}")


@pytest.mark.timeout(900)
def test_a_detached_actor_keeps_its_worker_through_idle_scale_down(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    body = _example()
    idle_timeout = float(body["spec"]["autoscalerOptions"]["idleTimeoutSeconds"])
    name, head_ip = _start(custom, core, namespace, body)
    result = run_driver(DETACHED, head_ip)
    assert result["actor_host"] != result["task_host"], result
    # The task's worker goes idle and is removed; the actor's worker stays, well past the idle timeout.
    try:
        wait_for(lambda: [p.metadata.name for p in _workers(core, namespace, name)] == [result["actor_host"]],
                 timeout=idle_timeout + 180, interval=1, what="only the actor's worker left")
    except AssertionError:
        print(_autoscaler_log(core, namespace, name))
        raise
    time.sleep(idle_timeout + 15)
    assert [p.metadata.name for p in _workers(core, namespace, name)] == [result["actor_host"]]
    assert _replicas(custom, namespace, name) == 1
    # Still the same actor on the same worker; once it is gone the worker is idle and removed too.
    assert run_driver(DETACHED_CHECK, head_ip)["actor_host"] == result["actor_host"]
    wait_for(lambda: not _workers(core, namespace, name), timeout=idle_timeout + 180, interval=1,
             what="the actor's worker removed once the actor is gone")


@pytest.mark.timeout(900)
def test_request_resources_and_a_strict_spread_placement_group_get_the_expected_node_counts(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    body = _example()
    idle_timeout = float(body["spec"]["autoscalerOptions"]["idleTimeoutSeconds"])
    name, head_ip = _start(custom, core, namespace, body)

    def running_workers() -> int:
        return sum(1 for p in _workers(core, namespace, name) if p.status.phase == "Running")

    try:
        # request_resources for two 1-CPU bundles: two workers (not more), kept while the request stands, idle or not.
        run_driver(REQUEST, head_ip, json.dumps([{"CPU": 1}, {"CPU": 1}]))
        wait_for(lambda: running_workers() == 2, timeout=240, interval=1, what="two workers for request_resources")
        time.sleep(idle_timeout + 15)
        assert len(_workers(core, namespace, name)) == 2 and _replicas(custom, namespace, name) == 2
        # Withdrawn: the idle workers go back to minReplicas.
        run_driver(REQUEST, head_ip, "[]")
        wait_for(lambda: not _workers(core, namespace, name), timeout=idle_timeout + 180, interval=1,
                 what="workers removed once the request is withdrawn")
        # STRICT_SPREAD over two 1-CPU bundles: exactly two workers, one bundle on each.
        result = run_driver(SPREAD, head_ip)
        assert len(result["nodes"]) == 2 and result["workers"] == 2, result
        assert _replicas(custom, namespace, name) == 2
    except AssertionError:
        print(_autoscaler_log(core, namespace, name))
        raise


@pytest.mark.timeout(900)
def test_the_same_scenario_passes_with_rays_own_autoscaler(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    """``autoscalerOptions.args`` set to KubeRay's command: the sidecar runs ``ray kuberay-autoscaler`` (v2) under
    ``/bin/bash -c --``, proving rayop's RayCluster semantics (patches, workersToDelete, pod labels/env) match."""
    body = _example(args=KUBERAY_AUTOSCALER_ARGS)
    name, _, _ = _scale_up_and_down(custom, core, namespace, body, "ray kuberay-autoscaler")
    head = next(p for p in cluster_pods(core, namespace, name) if p.metadata.labels["ray.io/node-type"] == "head")
    sidecar = next(c for c in head.spec.containers if c.name == "autoscaler")
    assert sidecar.command == ["/bin/bash", "-c", "--"] and sidecar.args == KUBERAY_AUTOSCALER_ARGS
