"""Helpers of the local node tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rayop.local.localnode.kube import KubeClient

NODE_SELECTOR = {"rayop.io/node-type": "local"}


def wait(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except Exception as err:  # retried until the deadline
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def pod(name: str, command: list[str], labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    container = {
        "name": spec.pop("container_name", "main"),
        "image": "python:3.11",
        "command": command,
        **spec.pop("container", {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "nodeSelector": NODE_SELECTOR,
            "terminationGracePeriodSeconds": 5,
            "containers": [container],
            **spec,
        },
    }


def create_pod(kube: KubeClient, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    return kube.create(f"/api/v1/namespaces/{ns}/pods", body)


def get_pod(kube: KubeClient, ns: str, name: str) -> dict[str, Any]:
    return kube.get(f"/api/v1/namespaces/{ns}/pods/{name}")


def is_ready(p: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", [])
    )


def wait_ready(kube: KubeClient, ns: str, name: str, timeout: float = 60) -> dict[str, Any]:
    return wait(lambda: (p := get_pod(kube, ns, name)) and is_ready(p) and p, timeout, f"pod {name} Ready")  # type: ignore[no-any-return]


def wait_phase(
    kube: KubeClient,
    ns: str,
    name: str,
    phases: tuple[str, ...] = ("Succeeded", "Failed"),
    timeout: float = 60,
) -> dict[str, Any]:
    return wait(
        lambda: (p := get_pod(kube, ns, name)) and p["status"].get("phase") in phases and p,  # type: ignore[no-any-return]
        timeout,
        f"pod {name} in {phases}",
    )


def pod_log(kube: KubeClient, ns: str, name: str, **params: str) -> str:
    r = kube.session.get(f"{kube.host}/api/v1/namespaces/{ns}/pods/{name}/log", params=params, timeout=10)
    r.raise_for_status()
    return r.text
