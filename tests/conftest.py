"""Shared fixtures: the local control plane (session), a fresh namespace per test, the operator.

Tests are marked by what they need, from their folder: ``tests/unit`` and ``tests/golden`` → ``unit`` (no servers),
``tests/component`` → ``k8s`` (the local control plane), ``tests/e2e`` → ``ray`` (real Ray on local nodes).
Run a fast subset with ``pytest -m unit``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
_FOLDER_MARKS = {"unit": "unit", "golden": "unit", "component": "k8s", "e2e": "ray", "localnode": None}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(ROOT / "tests")
        mark = _FOLDER_MARKS.get(rel.parts[0]) if len(rel.parts) > 1 else None
        if mark and not any(m.name in ("unit", "k8s", "ray") for m in item.iter_markers()):
            item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(scope="session")
def control_plane() -> Iterator[Any]:
    """etcd, kube-apiserver, controller-manager, scheduler and kwok (4 CPU nodes + 1 GPU node), CRDs installed."""
    from rayop.local.controlplane.cluster import ControlPlane, ControlPlaneConfig

    cp = ControlPlane.start(ControlPlaneConfig())
    try:
        cp.apply_crds(sorted((ROOT / "crds").glob("*.yaml")))
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def local_node(control_plane: Any) -> Iterator[Any]:
    """One local node (pods run as real processes) beside the kwok nodes; select it with
    ``nodeSelector: {rayop.io/node-type: local}``. Only one agent can run per machine."""
    from rayop.local.localnode.agent import Agent, AgentConfig

    # Another test run or bench on this machine may hold the node: queue behind it rather than fail.
    agent = Agent(AgentConfig(kubeconfig=str(control_plane.kubeconfig), nodes=1, backoff_initial=1.0,
                              state_dir=Path("/var/lib/rayop-localnode-test"), lock_wait=1800))
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture(scope="session")
def api_client(control_plane: Any) -> Any:
    """A ``kubernetes`` ApiClient for the local control plane (tests only; the operator uses rayop.kube)."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(control_plane.kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture()
def core(api_client: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api_client)


@pytest.fixture()
def custom(api_client: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(api_client)


def _fresh_namespace(core: Any, prefix: str) -> Iterator[str]:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture()
def namespace(core: Any) -> Iterator[str]:
    """A fresh namespace per test, watched by the session operator, deleted afterwards."""
    yield from _fresh_namespace(core, "t")


@pytest.fixture()
def private_namespace(core: Any) -> Iterator[str]:
    """A fresh namespace the session operator does not watch (for tests that run their own operator)."""
    yield from _fresh_namespace(core, "p")


@pytest.fixture(scope="session")
def operator(control_plane: Any) -> Iterator[Any]:
    """The rayop operator running in-process (a thread with its own event loop) against the control plane."""
    import asyncio

    from rayop.operator.main import operator_main
    from rayop.operator.settings import Settings

    # Only the per-test namespaces ("t-..."), so tests can run their own operator elsewhere. The local node ignores
    # images (the host venv is every image, and it holds rayop), so naming one makes sidecars run rayop's autoscaler;
    # tests of Ray's own autoscaler select it through autoscalerOptions, as a KubeRay user would.
    settings = Settings(kubeconfig=str(control_plane.kubeconfig), namespaces=["t-*"], health_port=0,
                        metrics_port=0, log_format="plain", resync_seconds=30, autoscaler_image="rayop-local",
                        gcs_ha={"probe_interval_seconds": 1.0, "probe_timeout_seconds": 1.0})
    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            asyncio.run(operator_main(settings, stop_flag=stop, ready_flag=ready))
        except BaseException as exc:  # surfaced to the test session below
            errors.append(exc)

    thread = threading.Thread(target=runner, name="rayop-operator", daemon=True)
    thread.start()
    if not ready.wait(60):
        raise RuntimeError(f"operator did not become ready: {errors}")
    yield settings
    stop.set()
    thread.join(30)
    if errors:
        raise errors[0]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A real redis-server on loopback (random port, password ``tests.support.redis_server.PASSWORD``)."""
    from tests.support.redis_server import redis_server as start

    with start() as server:
        yield server
