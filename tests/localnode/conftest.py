"""Fixtures of the local node tests: a control plane with one local node agent running in-process."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rayop.localnode.kube import KubeClient
from tests.localnode.localnode_helpers import wait


@pytest.fixture(scope="session")
def localnode_cp(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The shared ``control_plane``; while the harness's binaries are not at ``tools.bin_dir()`` yet and
    ``RAYOP_TEST_BIN_DIR`` names a directory holding them, a minimal control plane (no kwok) from there."""
    from rayop.controlplane import cluster, tools

    prebuilt = os.environ.get("RAYOP_TEST_BIN_DIR")
    if not tools.missing_tools() or not prebuilt:
        yield request.getfixturevalue("control_plane")
        return
    mp = pytest.MonkeyPatch()
    mp.setattr(cluster, "ensure_tools", lambda *a, **k: Path(prebuilt))
    cp = cluster.ControlPlane.start(cluster.ControlPlaneConfig(with_kwok=False, node_shapes=()))
    try:
        yield cp
    finally:
        cp.stop()
        mp.undo()


@pytest.fixture(scope="session")
def agent(localnode_cp: Any) -> Iterator[Any]:
    from rayop.localnode.agent import Agent, AgentConfig

    ag = Agent(
        AgentConfig(
            kubeconfig=str(localnode_cp.kubeconfig),
            nodes=1,
            backoff_initial=1.0,
            state_dir=Path("/var/lib/rayop-localnode-test"),
        )
    )
    ag.start()
    try:
        yield ag
    finally:
        ag.stop()


@pytest.fixture(scope="session")
def kube(agent: Any) -> KubeClient:
    return KubeClient(agent.cfg.kubeconfig)


@pytest.fixture()
def ns(kube: KubeClient) -> Iterator[str]:
    name = f"ln-{uuid.uuid4().hex[:8]}"
    kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    # The ServiceAccount admission needs the namespace's default ServiceAccount (made by the controller-manager).
    wait(lambda: kube.get_or_none(f"/api/v1/namespaces/{name}/serviceaccounts/default"), 30, "default SA")
    yield name
    kube.delete(f"/api/v1/namespaces/{name}")
