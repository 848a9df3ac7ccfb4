"""A GCS fault-tolerant RayService on real Ray Serve and a real Redis (``examples/08-rayservice-gcs-ft``, applied
as a user applies it): its head runs no replicas, so Serve's only proxy is on the worker, and the RayService must
still become Ready and answer through its serve Service; its head pod deleted under requests, it stays on the same
RayCluster with the same worker, and answers afterwards. The failures seen during the deletion are printed (the
``rayservice-gcs-ft`` bench measures them under load, beside KubeRay)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for
from tests.support.rayservice import applied_in_fresh_namespace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "08-rayservice-gcs-ft" / "rayservice.yaml"
NAME = "version-ha"


@pytest.fixture(scope="module")
def ha_service(operator: Any, local_node: Any, api_client: Any) -> Iterator[tuple[str, Any, Any]]:
    """Every document of the example in a fresh watched namespace: (namespace, CustomObjectsApi, CoreV1Api)."""
    with applied_in_fresh_namespace(api_client, EXAMPLE, NAME) as applied:
        yield applied


def ready(custom: Any, ns: str) -> bool:
    body = custom.get_namespaced_custom_object("ray.io", "v1", ns, "rayservices", NAME)
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def wait_ready(custom: Any, core: Any, ns: str, what: str) -> None:
    """Wait for the RayService's Ready condition; on a timeout say what the status and the pods showed."""
    try:
        wait_for(lambda: ready(custom, ns), timeout=300, what=what)
    except AssertionError as exc:
        body = custom.get_namespaced_custom_object("ray.io", "v1", ns, "rayservices", NAME)
        states = [(p.metadata.name, p.status.phase, p.metadata.labels.get("ray.io/serve"), pod_ready(p))
                  for p in core.list_namespaced_pod(ns).items]
        raise AssertionError(f"{exc}\nstatus: {body.get('status')}\npods: {states}") from None


def active(custom: Any, ns: str) -> str:
    body = custom.get_namespaced_custom_object("ray.io", "v1", ns, "rayservices", NAME)
    return str(((body.get("status") or {}).get("activeServiceStatus") or {}).get("rayClusterName") or "")


def clusters(custom: Any, ns: str) -> list[str]:
    items = custom.list_namespaced_custom_object("ray.io", "v1", ns, "rayclusters")["items"]
    return sorted(c["metadata"]["name"] for c in items if not c["metadata"].get("deletionTimestamp"))


def pods(core: Any, ns: str, cluster: str, node_type: str) -> dict[str, Any]:
    selector = f"ray.io/cluster={cluster},ray.io/node-type={node_type}"
    return {p.metadata.name: p for p in core.list_namespaced_pod(ns, label_selector=selector).items
            if not p.metadata.deletion_timestamp}


def pod_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def ask(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return dict(json.loads(resp.read()))


def serve_url(core: Any, ns: str) -> str:
    return f"http://{core.read_namespaced_service(f'{NAME}-serve-svc', ns).spec.cluster_ip}:8000/"


def test_a_rayservice_whose_head_runs_no_replicas_becomes_ready_and_answers_through_its_worker(
        ha_service: tuple[str, Any, Any]) -> None:
    ns, custom, core = ha_service
    wait_ready(custom, core, ns, "RayService Ready")
    answer = wait_for(lambda: ask(serve_url(core, ns)), timeout=60, what="the serve Service answers")
    assert answer["version"] == "v1"
    assert answer["pod"] in pods(core, ns, active(custom, ns), "worker")  # the head has no replica


def test_a_head_deletion_keeps_the_cluster_and_its_worker_and_the_service_answers_after(
        ha_service: tuple[str, Any, Any]) -> None:
    ns, custom, core = ha_service
    cluster = active(custom, ns)
    (head,) = pods(core, ns, cluster, "head")
    workers = {n: p.metadata.uid for n, p in pods(core, ns, cluster, "worker").items()}
    url = serve_url(core, ns)
    answered, failures, stop = [0], [], threading.Event()

    def probe() -> None:
        while not stop.is_set():
            try:
                ask(url)
                answered[0] += 1
            except Exception as exc:  # every failure counts, whatever it is
                failures.append(repr(exc))
            time.sleep(0.1)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        core.delete_namespaced_pod(head, ns)
        wait_for(lambda: any(n != head and pod_ready(p) for n, p in pods(core, ns, cluster, "head").items()),
                 timeout=300, what="a new head pod Ready")
        wait_ready(custom, core, ns, "RayService Ready again")
        time.sleep(5)
    finally:
        stop.set()
        prober.join(10)
    print(f"\nhead deletion under requests: {answered[0]} answered, {len(failures)} failed {failures[:3]}")
    assert clusters(custom, ns) == [cluster] and active(custom, ns) == cluster
    assert {n: p.metadata.uid for n, p in pods(core, ns, cluster, "worker").items()} == workers
    assert ask(url)["version"] == "v1"
