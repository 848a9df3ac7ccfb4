"""RayCluster operations: create, get, list, scale, suspend/resume, delete, and waiting until it is usable.

Every call returns the project's typed :class:`RayCluster` or raises an :mod:`rayop.sdk.errors` error. Waiting
means *usable*: ``state: ready`` and then a Ray client that really connects (the first ``ray://`` connection right
after ``ready`` can still fail with "Starting Ray client server failed"); a wait that runs out raises
:class:`NotReady` with the reason from pod conditions and events.
"""

from __future__ import annotations

import time
from typing import Any

from rayop.api.raycluster import RayCluster, RayClusterSpec
from rayop.sdk import addresses, errors, explain
from rayop.sdk.client import RAYCLUSTERS, Client, in_pod
from rayop.sdk.progress import Progress
from rayop.sdk.spec import cluster_body, scaled_groups


def create(client: Client, name: str, spec: RayClusterSpec, namespace: str | None = None,
           labels: dict[str, str] | None = None) -> RayCluster:
    return RayCluster.parse(client.create(RAYCLUSTERS, cluster_body(name, spec, client.ns(namespace), labels)))


def create_from(client: Client, body: dict[str, Any], namespace: str | None = None) -> RayCluster:
    """Create from a whole manifest (``-f cluster.yaml``), validated by the model first."""
    RayCluster.parse(body)
    return RayCluster.parse(client.create(RAYCLUSTERS, body, namespace))


def get(client: Client, name: str, namespace: str | None = None) -> RayCluster:
    return RayCluster.parse(client.get(RAYCLUSTERS, name, namespace))


def list_(client: Client, namespace: str | None = None, label_selector: str | None = None,
          all_namespaces: bool = False) -> list[RayCluster]:
    return [RayCluster.parse(o) for o in client.list_all(RAYCLUSTERS, namespace, label_selector=label_selector,
                                                         all_namespaces=all_namespaces)]


def scale(client: Client, name: str, replicas: int, group: str | None = None, namespace: str | None = None,
          min_replicas: int | None = None, max_replicas: int | None = None) -> RayCluster:
    """Set one worker group's replicas (``kubectl ray scale cluster NAME -w GROUP -r N``)."""
    current = client.get(RAYCLUSTERS, name, namespace)
    try:
        groups = scaled_groups(current.get("spec") or {}, group, replicas, min_replicas, max_replicas)
    except ValueError as exc:
        raise errors.Invalid(f"cannot scale RayCluster {client.ns(namespace)}/{name}: {exc}", status=422) from None
    patch = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
             "spec": {"workerGroupSpecs": groups}}
    return RayCluster.parse(client.patch(RAYCLUSTERS, name, patch, namespace))


def suspend(client: Client, name: str, namespace: str | None = None) -> RayCluster:
    return RayCluster.parse(client.patch(RAYCLUSTERS, name, {"spec": {"suspend": True}}, namespace))


def resume(client: Client, name: str, namespace: str | None = None) -> RayCluster:
    return RayCluster.parse(client.patch(RAYCLUSTERS, name, {"spec": {"suspend": False}}, namespace))


def delete(client: Client, name: str, namespace: str | None = None, wait: bool = False,
           timeout: float = 120) -> None:
    client.delete(RAYCLUSTERS, name, namespace)
    deadline = time.monotonic() + timeout
    while wait and time.monotonic() < deadline:
        try:
            client.get(RAYCLUSTERS, name, namespace)
        except errors.NotFound:
            return
        time.sleep(0.5)


def pods_of(client: Client, name: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return client.pods(namespace, f"ray.io/cluster={name}")


def why_not_ready(client: Client, name: str, namespace: str | None, waited_s: float) -> str:
    cluster = client.get(RAYCLUSTERS, name, namespace)
    pods = pods_of(client, name, namespace)
    events = client.events_for(namespace, name, "RayCluster")
    for pod in pods:
        events += [e for e in client.events_for(namespace, pod["metadata"]["name"], "Pod")
                   if e.get("reason") not in ("FailedScheduling",)]  # the pod condition already says it
    return explain.explain_not_ready(cluster, pods, events, waited_s)


def locate(client: Client, name: str, namespace: str | None = None) -> addresses.Addresses:
    """The head's addresses as reachable from this process (see :mod:`rayop.sdk.addresses`)."""
    cluster = client.get(RAYCLUSTERS, name, namespace)
    return addresses.choose(cluster, in_pod(), addresses.tcp_open)


def wait_ready(client: Client, name: str, namespace: str | None = None, timeout: float = 300,
               progress: Progress | None = None, check_client: bool = True) -> RayCluster:
    """Wait for ``state: ready``, then (``check_client``) for a Ray client connection; NotReady says why not."""
    started = time.monotonic()
    progress = progress or Progress(f"RayCluster {client.ns(namespace)}/{name}", quiet=True)
    while True:
        obj = client.get(RAYCLUSTERS, name, namespace)
        state = (obj.get("status") or {}).get("state")
        progress.update(explain.progress_line(obj, pods_of(client, name, namespace)))
        if state == "ready":
            break
        if state == "failed" or time.monotonic() - started > timeout:
            raise errors.NotReady(why_not_ready(client, name, namespace, time.monotonic() - started))
        time.sleep(1.0)
    if check_client:
        left = max(10.0, timeout - (time.monotonic() - started))
        wait_client(client, name, namespace, left, progress)
    return RayCluster.parse(client.get(RAYCLUSTERS, name, namespace))


def wait_client(client: Client, name: str, namespace: str | None, timeout: float, progress: Progress) -> None:
    """Retry a real Ray client connection until it works (what a notebook user would otherwise retry by hand)."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        where = locate(client, name, namespace)
        if where.client_address is None:
            progress.update("ready; no reachable client address (" + where.why.split(";")[0] + ")")
            return
        progress.update(f"ready; connecting a Ray client to {where.client_address}")
        ok, last = try_ray_client(where.client_address)
        if ok:
            progress.update(f"ready; Ray client connects at {where.client_address}")
            return
        time.sleep(2.0)
    raise errors.NotReady(f"RayCluster {client.ns(namespace)}/{name} is ready but a Ray client could not connect "
                          f"within {timeout:.0f} s: {last}")


def try_ray_client(address: str) -> tuple[bool, str]:
    """Connect and disconnect a Ray client without touching this process's global Ray state."""
    try:
        import ray
    except ImportError:
        return True, "ray is not installed here: client connection not checked"
    try:
        ctx = ray.init(address, allow_multiple=True)
        ctx.disconnect()
        return True, ""
    except Exception as exc:  # "Starting Ray client server failed", connection refused, timeouts: all retried
        return False, f"{type(exc).__name__}: {exc}".strip()[:300]


def wait_workers(client: Client, name: str, namespace: str | None, workers: int, timeout: float = 300) -> RayCluster:
    """Wait until ``readyWorkerReplicas`` equals ``workers`` (after a scale); NotReady says why not."""
    started = time.monotonic()
    while True:
        obj = client.get(RAYCLUSTERS, name, namespace)
        status = obj.get("status") or {}
        if status.get("readyWorkerReplicas", 0) == workers and status.get("desiredWorkerReplicas") == workers:
            return RayCluster.parse(obj)
        if time.monotonic() - started > timeout:
            raise errors.NotReady(why_not_ready(client, name, namespace, time.monotonic() - started)
                                  + f" (waiting for {workers} ready workers, have "
                                  f"{status.get('readyWorkerReplicas', 0)})")
        time.sleep(1.0)
