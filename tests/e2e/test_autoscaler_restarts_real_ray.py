"""rayop's autoscaler survives restarts of itself, of the operator and of the Ray head without scaling twice
(issue 5 acceptance, real Ray on the local node).

The test runs its own ``rayop operator`` process (in a namespace the session operator does not watch) so it can
SIGKILL it, and SIGKILLs the sidecar's and the head's main processes the way a crash or an OOM kill would; the local
node restarts those containers in place, as the kubelet does.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rayop.local.devenv import start_operator
from tests.e2e.autoscaler_support import (
    HOLD,
    PRELUDE,
    Recorder,
    autoscaler_log,
    example_body,
    group_replicas,
    run_driver,
    start_cluster,
    worker_pods,
)
from tests.helpers import wait_for
from tests.support.raycluster import cluster_pods, get_cluster

#: Two 1-CPU tasks held long enough for the restarts to happen while the scale-up is under way.
HOLD_TWO = PRELUDE + HOLD + """

t0 = time.time()
hosts = ray.get([hold.remote(float(sys.argv[2])) for _ in range(2)], timeout=400)
report(submitted=t0, hosts=hosts, done=time.time())
"""


def _head(core: Any, namespace: str, name: str) -> Any:
    return next(p for p in cluster_pods(core, namespace, name) if p.metadata.labels["ray.io/node-type"] == "head")


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _container(core: Any, namespace: str, name: str, container: str) -> Any:
    return next(s for s in _head(core, namespace, name).status.container_statuses or [] if s.name == container)


def _container_pid(agent: Any, namespace: str, pod: str, container: str) -> int:
    """The main process of a container the local node runs."""
    runner = next(r for r in list(agent.runners.values()) if r.ns == namespace and r.name == pod)
    pid = next(c.pid for c in runner.main if c.name == container)
    assert pid, f"{pod}/{container} is not running"
    return int(pid)


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _loop_pid(agent: Any, namespace: str, pod: str) -> int | None:
    """The autoscaler loop: the child of the sidecar's supervisor (its main process)."""
    children = _children(_container_pid(agent, namespace, pod, "autoscaler"))
    return children[0] if len(children) == 1 else None


class _Driver(threading.Thread):
    """``run_driver`` in the background, so the test can restart things while the driver's demand is pending."""

    def __init__(self, script: str, head_ip: str, *args: str) -> None:
        super().__init__(daemon=True)
        self.script, self.head_ip, self.args = script, head_ip, args
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = run_driver(self.script, self.head_ip, *self.args)
        except BaseException as exc:  # re-raised by finish()
            self.error = exc

    def finish(self, timeout: float = 420) -> dict[str, Any]:
        self.join(timeout)
        if self.error is not None:
            raise self.error
        assert self.result is not None, "the driver did not finish"
        return self.result


@pytest.mark.timeout(900)
def test_autoscaler_operator_and_head_restarts_neither_lose_nor_double_the_scale_up(
        control_plane: Any, local_node: Any, custom: Any, core: Any, private_namespace: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = private_namespace
    # The operator processes read it from their environment: sidecars run rayop's autoscaler (the local node's
    # "image" is the host venv, which holds rayop).
    monkeypatch.setenv("RAYOP_AUTOSCALER_IMAGE", "rayop-local")
    body = example_body()
    idle_timeout = float(body["spec"]["autoscalerOptions"]["idleTimeoutSeconds"])
    comp, _ = start_operator(control_plane.kubeconfig, tmp_path, ["-n", namespace])
    try:
        name, head_ip = start_cluster(custom, core, namespace, body)
        head_pod = _head(core, namespace, name).metadata.name
        with Recorder(core, custom, namespace, name, head_ip) as rec:
            try:
                # 1. Demand for two workers; as soon as the autoscaler has asked for them, the autoscaler and the
                #    operator are killed. The operator comes back 3 s later; the sidecar is restarted by the node.
                loop = wait_for(lambda: _loop_pid(local_node, namespace, head_pod), timeout=30, what="loop pid")
                driver = _Driver(HOLD_TWO, head_ip, "25")
                driver.start()
                wait_for(lambda: group_replicas(custom, namespace, name) == 2, timeout=120, interval=0.2,
                         what="the autoscaler asking for two workers")
                os.kill(loop, signal.SIGKILL)
                assert comp.process is not None
                os.killpg(comp.process.pid, signal.SIGKILL)
                comp.process.wait(10)
                time.sleep(3)
                comp, _ = start_operator(control_plane.kubeconfig, tmp_path, ["-n", namespace])
                first = driver.finish()
                # The sidecar's supervisor restarted the loop; the container itself never stopped.
                new_loop = _loop_pid(local_node, namespace, head_pod)
                assert new_loop is not None and new_loop != loop
                sidecar = _container(core, namespace, name, "autoscaler")
                assert sidecar.restart_count == 0 and sidecar.state.running is not None
                # Both tasks ran, on two workers: no more were ever asked for or created.
                assert len(set(first["hosts"])) == 2 and set(first["hosts"]) <= set(rec.pod_seen), first
                assert rec.max_replicas("cpu") == 2 and len(rec.pod_seen) == 2, (rec.replicas, rec.pod_seen)
                # The restarted autoscaler still scales down: idle workers drained and removed.
                wait_for(lambda: not worker_pods(core, namespace, name), timeout=idle_timeout + 180, interval=1,
                         what="idle workers removed by the restarted autoscaler")

            except AssertionError:
                print(autoscaler_log(core, namespace, name))
                raise
        # 2. The Ray head crashes. Its pod has restartPolicy Never (autoscaler v2), so the operator replaces the pod,
        #    as KubeRay does; the new head's sidecar starts from what the RayCluster records and serves the next
        #    demand exactly once.
        os.kill(_container_pid(local_node, namespace, head_pod, "ray-head"), signal.SIGKILL)
        new_head = wait_for(lambda: (h := _head(core, namespace, name)).metadata.name != head_pod and _ready(h) and h,
                            timeout=240, interval=1, what="a new head pod, Ready")
        head_ip = str(new_head.status.pod_ip)
        wait_for(lambda: get_cluster(custom, namespace, name)["status"]["head"].get("podIP") == head_ip
                 and get_cluster(custom, namespace, name)["status"]["state"] == "ready", timeout=60, interval=1,
                 what="the RayCluster ready with the new head")
        with Recorder(core, custom, namespace, name, head_ip) as rec2:
            try:
                second = run_driver(HOLD_TWO, head_ip, "5")
            except AssertionError:
                print(autoscaler_log(core, namespace, name))
                raise
        assert len(set(second["hosts"])) == 2 and set(second["hosts"]) <= set(rec2.pod_seen), second
        assert rec2.max_replicas("cpu") == 2 and len(rec2.pod_seen) == 2, (rec2.replicas, rec2.pod_seen)
        print(f"\nsecond demand after the head was replaced -> both tasks done: "
              f"{second['done'] - second['submitted']:.1f}s")
    finally:
        comp.stop()
