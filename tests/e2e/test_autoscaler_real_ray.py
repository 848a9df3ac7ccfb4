"""rayop's autoscaler end to end: a RayCluster on the local node grows with a notebook's demand and shrinks back when
idle, draining every removed worker through GCS first (issue 5 acceptance, real Ray). Helpers, the driver prelude and
the recorder are in :mod:`tests.e2e.autoscaler_support`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.autoscaler_support import (
    HOLD,
    KUBERAY_AUTOSCALER_ARGS,
    PRELUDE,
    Recorder,
    autoscaler_log,
    cluster_events,
    example_body,
    group_replicas,
    run_driver,
    start_cluster,
    worker_pods,
)
from tests.helpers import wait_for
from tests.support.raycluster import cluster_pods, get_cluster

#: Two tasks of 1 CPU each, held for a while, on a cluster with no worker: needs two new workers.
DEMAND = PRELUDE + HOLD + """

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
DETACHED = PRELUDE + HOLD + """
@ray.remote(num_cpus=1)
class Keeper:
    def where(self):
        import socket
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


def _scale_up_and_down(custom: Any, core: Any, namespace: str, body: dict[str, Any], label: str,
                       ) -> tuple[str, dict[str, Any], Recorder]:
    """The first acceptance scenario; returns the cluster name, the driver's report and the recording."""
    idle_timeout = float(body["spec"]["autoscalerOptions"]["idleTimeoutSeconds"])
    name, head_ip = start_cluster(custom, core, namespace, body)
    with Recorder(core, custom, namespace, name, head_ip) as rec:
        try:
            result = run_driver(DEMAND, head_ip)
            pods = {p.metadata.name for p in worker_pods(core, namespace, name)}
            # The tasks ran, on two new workers (pods of the cpu group, a real process each).
            assert sorted(result["hosts"]) == sorted(pods) and len(pods) == 2, (result, pods)
            assert len(result["joined"]) == 2
            wait_for(lambda: not worker_pods(core, namespace, name) and group_replicas(custom, namespace, name) == 0,
                     timeout=idle_timeout + 180, interval=1, what="the cpu group back at minReplicas (0)")
            wait_for(lambda: set(rec.pod_gone) >= pods, timeout=10, interval=0.5, what="recorder saw pods go")
        except AssertionError:
            print(autoscaler_log(core, namespace, name))
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
    scaled_up = next(t for t, r in rec.replicas["cpu"] if r == 2)
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
    name, _, _ = _scale_up_and_down(custom, core, namespace, example_body(), "rayop autoscaler")
    # The autoscaler explained itself: events for the scale-up and the drained scale-down, and the annotation.
    events = cluster_events(core, namespace, name)
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
    body = example_body()
    idle_timeout = float(body["spec"]["autoscalerOptions"]["idleTimeoutSeconds"])
    name, head_ip = start_cluster(custom, core, namespace, body)
    result = run_driver(DETACHED, head_ip)
    assert result["actor_host"] != result["task_host"], result
    # The task's worker goes idle and is removed; the actor's worker stays, well past the idle timeout.
    try:
        wait_for(lambda: [p.metadata.name for p in worker_pods(core, namespace, name)] == [result["actor_host"]],
                 timeout=idle_timeout + 180, interval=1, what="only the actor's worker left")
    except AssertionError:
        print(autoscaler_log(core, namespace, name))
        raise
    time.sleep(idle_timeout + 15)
    assert [p.metadata.name for p in worker_pods(core, namespace, name)] == [result["actor_host"]]
    assert group_replicas(custom, namespace, name) == 1
    # Still the same actor on the same worker; once it is gone the worker is idle and removed too.
    assert run_driver(DETACHED_CHECK, head_ip)["actor_host"] == result["actor_host"]
    wait_for(lambda: not worker_pods(core, namespace, name), timeout=idle_timeout + 180, interval=1,
             what="the actor's worker removed once the actor is gone")


@pytest.mark.timeout(900)
def test_request_resources_and_a_strict_spread_placement_group_get_the_expected_node_counts(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    body = example_body()
    idle_timeout = float(body["spec"]["autoscalerOptions"]["idleTimeoutSeconds"])
    name, head_ip = start_cluster(custom, core, namespace, body)

    def running_workers() -> int:
        return sum(1 for p in worker_pods(core, namespace, name) if p.status.phase == "Running")

    try:
        # request_resources for two 1-CPU bundles: two workers (not more), kept while the request stands, idle or not.
        run_driver(REQUEST, head_ip, json.dumps([{"CPU": 1}, {"CPU": 1}]))
        wait_for(lambda: running_workers() == 2, timeout=240, interval=1, what="two workers for request_resources")
        time.sleep(idle_timeout + 15)
        assert len(worker_pods(core, namespace, name)) == 2 and group_replicas(custom, namespace, name) == 2
        # Withdrawn: the idle workers go back to minReplicas.
        run_driver(REQUEST, head_ip, "[]")
        wait_for(lambda: not worker_pods(core, namespace, name), timeout=idle_timeout + 180, interval=1,
                 what="workers removed once the request is withdrawn")
        # STRICT_SPREAD over two 1-CPU bundles: exactly two workers, one bundle on each.
        result = run_driver(SPREAD, head_ip)
        assert len(result["nodes"]) == 2 and result["workers"] == 2, result
        assert group_replicas(custom, namespace, name) == 2
    except AssertionError:
        print(autoscaler_log(core, namespace, name))
        raise


@pytest.mark.timeout(900)
def test_the_same_scenario_passes_with_rays_own_autoscaler(
        operator: Any, local_node: Any, custom: Any, core: Any, namespace: str) -> None:
    """``autoscalerOptions.args`` set to KubeRay's command: the sidecar runs ``ray kuberay-autoscaler`` (v2) under
    ``/bin/bash -c --``, proving rayop's RayCluster semantics (patches, workersToDelete, pod labels/env) match."""
    body = example_body(args=KUBERAY_AUTOSCALER_ARGS)
    name, _, _ = _scale_up_and_down(custom, core, namespace, body, "ray kuberay-autoscaler")
    head = next(p for p in cluster_pods(core, namespace, name) if p.metadata.labels["ray.io/node-type"] == "head")
    sidecar = next(c for c in head.spec.containers if c.name == "autoscaler")
    assert sidecar.command == ["/bin/bash", "-c", "--"] and sidecar.args == KUBERAY_AUTOSCALER_ARGS
