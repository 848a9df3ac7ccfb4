"""Fixtures of the local node tests: a control plane with one local node agent running in-process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from rayop.local.localnode.kube import KubeClient
from tests.localnode.localnode_helpers import wait


@pytest.fixture(scope="session")
def localnode_cp(control_plane: Any) -> Any:
    return control_plane


@pytest.fixture(scope="session")
def agent(local_node: Any) -> Any:
    return local_node


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
