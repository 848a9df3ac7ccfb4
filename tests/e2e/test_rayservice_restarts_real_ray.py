"""Restart-safe rollouts on real Ray Serve: the operator (a process of its own) is SIGKILLed at each step of a
blue/green upgrade of ``examples/05-rayservice-local`` and started again; the rollout completes, no third
RayCluster ever exists, and no cluster ever runs (or is recorded with) the other side's serve config.

The steps run in file order on one RayService, each an upgrade to the other version (v1 -> v2 -> v1 ...), so one
cluster start per step is all the real-Ray time they cost. What "wrong config" means is checked from outside twice
(``benchmarks/rayop_bench/rollout_kill.py``, shared with the ``rayservice-restarts`` benchmark): each cluster's Serve
is asked which application version it runs, every half second, and each cluster's ``rayop.io/serve-config-hash``
annotation is read on every change.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.rayop_bench.rayservices import V1, V2, apply_example, example
from benchmarks.rayop_bench.rollout_kill import STEPS, ProcessOperator, kill_at_step, version_of
from benchmarks.rayop_bench.rollout_watch import RolloutWatch
from rayop.kube.client import KubeClient
from rayop.kube.config import from_kubeconfig
from tests.helpers import wait_for

NAME = example(V1)[1]["metadata"]["name"]
#: The drained cluster goes 3 s after it left the serve Service (the example says 15 s): the same path, less wait.
FAST = {"rayClusterDeletionDelaySeconds": 3}


async def _serve_v1(kubeconfig: Path, namespace: str) -> None:
    client = KubeClient(from_kubeconfig(kubeconfig), field_manager="rayop-e2e")
    watch = RolloutWatch(client, namespace, NAME)
    try:
        await watch.start()
        svc = await apply_example(client, V1, namespace)
        await client.patch("ray.io/v1", "rayservices", svc["metadata"]["name"], {"spec": FAST}, namespace)
        await watch.wait(lambda: watch.ready() and bool(watch.selected()), 300, f"RayService {NAME} Ready")
    finally:
        await watch.stop()
        await client.close()


@pytest.fixture(scope="module")
def serving(control_plane: Any, local_node: Any, api_client: Any,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessOperator, str]]:
    """An operator process watching one namespace (the session's in-process operator does not watch ``p-*``) and
    the example's RayService in it, Ready on v1."""
    import uuid

    from kubernetes import client

    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    namespace = f"p-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": namespace}})
    op = ProcessOperator(control_plane.kubeconfig, tmp_path_factory.mktemp("rayservice-restarts"), ["-n", namespace])
    op.start()
    try:
        asyncio.run(_serve_v1(control_plane.kubeconfig, namespace))
        yield op, namespace
    finally:
        # The RayService's finalizer needs the operator: delete while it runs, then stop it.
        custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayservices", NAME)
        wait_for(lambda: not custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"],
                 timeout=120, what="clusters deleted with the RayService")
        op.stop()
        core.delete_namespace(namespace)


def _current_version(custom: Any, namespace: str) -> str:
    body = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayservices", NAME)
    return version_of(body["spec"]["serveConfigV2"])


@pytest.mark.timeout(600, func_only=True)  # queueing for the local node is not the test's time
@pytest.mark.parametrize("step", STEPS)
def test_an_operator_killed_at_a_rollout_step_completes_it_without_a_third_cluster_or_a_misplaced_config(
        serving: tuple[ProcessOperator, str], control_plane: Any, custom: Any, step: str) -> None:
    op, namespace = serving
    to = V2 if _current_version(custom, namespace) == version_of(example(V1)[1]["spec"]["serveConfigV2"]) else V1
    check = asyncio.run(kill_at_step(control_plane.kubeconfig, op, step, namespace, to=to, spec_extra=FAST,
                                     timeout=300))
    print(f"\nkilled at {step}: " + json.dumps({**check.__dict__, "ok": check.ok}))
    assert check.hit, f"the kill came after {step} had passed: {check}"
    assert check.ok, check.problems
    assert check.max_clusters == 2 and len(check.clusters) == 2, check.clusters
