"""A RayCluster's children are checked against the cache on every pass: one that is deleted comes back, with an
event (KubeRay re-reads them every pass; rayop's earlier create-once set only recreated them after a restart)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from tests.helpers import wait_for
from tests.support.raycluster import load_sample, wait_ready


def _cluster_with_every_child() -> dict[str, Any]:
    body = load_sample("ray-cluster.autoscaler.yaml")
    body["metadata"]["name"] = "children"
    body["spec"]["headGroupSpec"]["enableIngress"] = True
    body["spec"]["authOptions"] = {"mode": "token"}
    body["spec"]["rayVersion"] = "2.53.0"
    return body


def _find(api_client: Any, namespace: str, kind: str, cluster: str) -> Any:
    selector = f"ray.io/cluster={cluster}"
    core, rbac, net = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client), (
        client.NetworkingV1Api(api_client))
    listing = {
        "Service": lambda: core.list_namespaced_service(namespace, label_selector=f"{selector},ray.io/node-type=head"),
        "Secret": lambda: core.list_namespaced_secret(namespace, label_selector=selector),
        "Ingress": lambda: net.list_namespaced_ingress(namespace, label_selector=selector),
        "Role": lambda: rbac.list_namespaced_role(namespace, label_selector=selector),
    }[kind]
    items = listing().items
    return items[0] if items else None


def _delete(api_client: Any, namespace: str, kind: str, name: str) -> None:
    core, rbac, net = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client), (
        client.NetworkingV1Api(api_client))
    {"Service": core.delete_namespaced_service, "Secret": core.delete_namespaced_secret,
     "Ingress": net.delete_namespaced_ingress, "Role": rbac.delete_namespaced_role}[kind](name, namespace)


def _created_events(core: Any, namespace: str, reason: str, name: str) -> int:
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.kind=RayCluster").items
    return sum(1 for e in events if e.reason == reason and name in (e.message or ""))


@pytest.mark.parametrize("kind", ["Service", "Ingress", "Secret", "Role"])
def test_a_deleted_child_is_recreated_within_two_seconds_with_an_event(
        operator: Any, api_client: Any, custom: Any, core: Any, namespace: str, kind: str) -> None:
    body = _cluster_with_every_child()
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", body)
    wait_ready(custom, namespace, "children", timeout=90)
    old = wait_for(lambda: _find(api_client, namespace, kind, "children"), timeout=10, what=f"{kind} exists")
    name = old.metadata.name
    reason = f"Created{kind}"
    wait_for(lambda: _created_events(core, namespace, reason, name) >= 1, timeout=10, what="first create event")
    before = _created_events(core, namespace, reason, name)

    _delete(api_client, namespace, kind, name)
    deleted_at = time.monotonic()
    new = wait_for(lambda: (o := _find(api_client, namespace, kind, "children")) is not None
                   and o.metadata.uid != old.metadata.uid and o, timeout=10, interval=0.05,
                   what=f"{kind} recreated")
    took = time.monotonic() - deleted_at
    print(f"{kind} {name} recreated after {took:.2f} s")
    assert new.metadata.name == name
    assert new.metadata.owner_references[0].kind == "RayCluster"
    assert took < 2.0
    wait_for(lambda: _created_events(core, namespace, reason, name) > before, timeout=10, what="a new create event")
