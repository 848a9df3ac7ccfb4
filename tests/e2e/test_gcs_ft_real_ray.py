"""GCS fault tolerance with real Ray and a real Redis on the local node: KubeRay's external-Redis sample as its users
apply it (its redis Deployment included), the head pod deleted twice; each time the new head restores the cluster
from Redis, the detached actor on the worker keeps its counter, a Serve app answers, and the workers are the same
pods. Deleting the cluster then removes every ``RAY<uid>@*`` key Ray wrote.

Two kills keep the suite affordable; the ten kills of the acceptance, with recovery times beside KubeRay's, are the
``gcs-ft`` bench scenario (``make bench BENCH_SCENARIO=gcs-ft BENCH_ARGS="--operator rayop,kuberay"``).
"""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
import redis
from kubernetes.client.rest import ApiException

from tests.helpers import wait_for
from tests.support.gcs_ft import INCREMENT, REDIS_PASSWORD, SETUP, apply, run_client, sample_docs
from tests.support.raycluster import cluster_pods, get_cluster, wait_ready

KILLS = 2


def _pods(core: Any, namespace: str, name: str, node_type: str) -> dict[str, str]:
    return {p.metadata.name: p.metadata.uid for p in cluster_pods(core, namespace, name)
            if p.metadata.labels["ray.io/node-type"] == node_type and not p.metadata.deletion_timestamp}


def _recovery(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    conds = (get_cluster(custom, namespace, name).get("status") or {}).get("conditions") or []
    return next((c for c in conds if c["type"] == "HeadRecovery"), {})


def _diagnose(core: Any, namespace: str) -> str:
    """Pod states and the last log lines of every container, for a failure message."""
    import subprocess
    from pathlib import Path

    rules = subprocess.run(["iptables", "-t", "nat", "-S", "RAYOP-SERVICES"], capture_output=True, text=True).stdout
    out = [f"service rules: {len(rules.splitlines())}; redis/dns: "
           + "; ".join(r for r in rules.splitlines() if "redis" in r or "kube-dns" in r)]
    for p in core.list_namespaced_pod(namespace).items:
        states = [(c.name, c.ready, c.restart_count, c.state.waiting or c.state.terminated)
                  for c in p.status.container_statuses or []]
        out.append(f"{p.metadata.name} {p.status.phase} {p.spec.node_name} {states}")
        for log in sorted(Path("/var/lib/rayop-localnode-test/pods", p.metadata.uid).glob("logs/*/*.log")):
            lines = [x for x in log.read_text(errors="replace").splitlines() if "libpython" not in x]
            out.append(f"--- {log}\n" + "\n".join([*lines[:15], "...", *lines[-15:]]))
    return "\n".join(out)


def _ready(custom: Any, core: Any, namespace: str, name: str) -> dict[str, Any]:
    try:
        return wait_ready(custom, namespace, name, timeout=300)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_diagnose(core, namespace)}") from None


def _serve(ip: str) -> str:
    with urllib.request.urlopen(f"http://{ip}:8000/", timeout=10) as resp:
        return resp.read().decode()


@pytest.mark.timeout(1200)
def test_external_redis_sample_survives_head_deletions_with_actor_state_and_workers_kept(
        operator: Any, local_node: Any, api_client: Any, custom: Any, core: Any, namespace: str) -> None:
    cluster = apply(api_client, namespace, sample_docs())
    name, uid = cluster["metadata"]["name"], cluster["metadata"]["uid"]
    redis_pod = wait_for(lambda: next((p for p in core.list_namespaced_pod(namespace, label_selector="app=redis").items
                                       if any(c.type == "Ready" and c.status == "True"
                                              for c in p.status.conditions or [])), None),
                         timeout=120, what="the sample's redis pod Ready")
    assert redis_pod.spec.node_name.startswith("rayop-local")
    status = _ready(custom, core, namespace, name)["status"]
    assert run_client(SETUP, status["head"]["podIP"]) == "1"
    workers = _pods(core, namespace, name, "worker")
    worker_ip = next(p.status.pod_ip for p in cluster_pods(core, namespace, name)
                     if p.metadata.labels["ray.io/node-type"] == "worker")
    assert wait_for(lambda: _serve(worker_ip), timeout=120, what="Serve answers") == "hello from serve"
    store = redis.Redis(host=redis_pod.status.pod_ip, port=6379, password=REDIS_PASSWORD, decode_responses=True)
    assert list(store.scan_iter(match=f"RAY{uid}@*"))  # Ray's GCS really writes to the sample's Redis

    for kill in range(1, KILLS + 1):
        (head,) = _pods(core, namespace, name, "head")
        core.delete_namespaced_pod(head, namespace)
        recovered = wait_for(lambda h=head: (c := _recovery(custom, namespace, name)).get("reason")
                             == "HeadPodRecovered" and h not in c.get("message", "") and c,
                             timeout=300, what=f"recovery {kill}")
        new_ip = _ready(custom, core, namespace, name)["status"]["head"]["podIP"]
        assert run_client(INCREMENT, new_ip) == str(kill + 1)
        assert _pods(core, namespace, name, "worker") == workers
        assert wait_for(lambda: _serve(worker_ip), timeout=60, what="Serve answers") == "hello from serve"
        assert "worker pods kept" in recovered["message"]

    custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name)

    def gone() -> bool:
        try:
            get_cluster(custom, namespace, name)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout=120, what="cluster deleted")
    assert list(store.scan_iter(match=f"RAY{uid}@*")) == []
