"""Job bodies for the Kubeflow unit tests (shapes of the training-operator's own test fixtures)."""

from __future__ import annotations

from typing import Any

from rayop.operator.kubeflow.framework import Framework, JobView


def replica(container: str, replicas: int, restart: str | None = None, port: tuple[str, int] | None = None,
            **container_extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": container, "image": "img", **container_extra}
    if port:
        c["ports"] = [{"name": port[0], "containerPort": port[1]}]
    spec: dict[str, Any] = {"replicas": replicas, "template": {"spec": {"containers": [c]}}}
    if restart:
        spec["restartPolicy"] = restart
    return spec


def body(fw: Framework, replicas: dict[str, Any], name: str = "test-job", namespace: str = "ns", **spec: Any
         ) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": fw.kind,
            "metadata": {"name": name, "namespace": namespace, "uid": "uid-1", "generation": 1},
            "spec": {fw.replica_field: replicas, **spec}}


def view(fw: Framework, b: dict[str, Any]) -> JobView:
    return fw.view(fw.model.parse(b), b)


def env_of(pod: dict[str, Any], container: int = 0) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][container].get("env") or []}
