"""The REST API acts as its caller: a ServiceAccount token that RBAC allows creates a RayJob; no token, a bad
token, or a namespace RBAC forbids is refused with 401/403 and a clear Status body, and nothing is created
(checked with the Kubernetes client, not through the API)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rayop.restapi.app import create_app
from rayop.sdk.client import Client

JOB = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "ci-job"},
       "spec": {"entrypoint": "python -c 'print(1)'", "clusterSelector": {"ray.io/cluster": "nowhere"}}}


@pytest.fixture(scope="module")
def api_url(control_plane: Any) -> Iterator[str]:
    """`rayop api` (uvicorn) on a free loopback port, acting through the admin kubeconfig."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(Client.connect(kubeconfig=str(control_plane.kubeconfig))),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture()
def allowed(core: Any, api_client: Any) -> Iterator[tuple[str, str, str]]:
    """(allowed namespace, forbidden namespace, token): a ServiceAccount whose Role allows RayJobs in one only."""
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(api_client)
    suffix = uuid.uuid4().hex[:8]
    ns_ok, ns_no = f"p-api-ok-{suffix}", f"p-api-no-{suffix}"
    for ns in (ns_ok, ns_no):
        core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_service_account(ns_ok, {"metadata": {"name": "ci"}})
    rbac.create_namespaced_role(ns_ok, {"metadata": {"name": "rayjobs"}, "rules": [
        {"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": ["create", "get", "list"]}]})
    rbac.create_namespaced_role_binding(ns_ok, {
        "metadata": {"name": "ci-rayjobs"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                       "name": "rayjobs"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": ns_ok}]})
    token = core.create_namespaced_service_account_token(
        "ci", ns_ok, {"spec": {"expirationSeconds": 600}}).status.token
    yield ns_ok, ns_no, token
    for ns in (ns_ok, ns_no):
        core.delete_namespace(ns)


def jobs_in(custom: Any, ns: str) -> list[str]:
    return [o["metadata"]["name"] for o in custom.list_namespaced_custom_object("ray.io", "v1", ns, "rayjobs")["items"]]


def post(url: str, ns: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{url}/apis/ray.io/v1/namespaces/{ns}/rayjobs", json=JOB, headers=headers, timeout=30)


def test_a_token_rbac_allows_creates_the_rayjob_as_that_caller(api_url: str, allowed: tuple[str, str, str],
                                                               custom: Any) -> None:
    ns_ok, _, token = allowed
    resp = post(api_url, ns_ok, token)
    assert resp.status_code == 201, resp.text
    assert resp.json()["metadata"]["annotations"]["rayop.io/created-by"] == f"system:serviceaccount:{ns_ok}:ci"
    assert jobs_in(custom, ns_ok) == ["ci-job"]
    listed = requests.get(f"{api_url}/apis/ray.io/v1/namespaces/{ns_ok}/rayjobs", params={"limit": 1},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    assert [o["metadata"]["name"] for o in listed["items"]] == ["ci-job"]


def test_no_token_is_401_and_nothing_is_created(api_url: str, allowed: tuple[str, str, str], custom: Any) -> None:
    resp = post(api_url, allowed[0], None)
    assert resp.status_code == 401
    assert resp.json()["reason"] == "Unauthorized" and "Authorization: Bearer" in resp.json()["message"]
    assert jobs_in(custom, allowed[0]) == []


def test_a_bad_token_is_401_and_nothing_is_created(api_url: str, allowed: tuple[str, str, str], custom: Any) -> None:
    resp = post(api_url, allowed[0], "not-a-token")
    assert resp.status_code == 401 and "TokenReview refused it" in resp.json()["message"]
    assert jobs_in(custom, allowed[0]) == []


def test_a_forbidden_namespace_is_403_naming_the_caller_and_nothing_is_created(
        api_url: str, allowed: tuple[str, str, str], custom: Any) -> None:
    _, ns_no, token = allowed
    resp = post(api_url, ns_no, token)
    assert resp.status_code == 403
    body = resp.json()
    assert body["reason"] == "Forbidden"
    assert body["message"].startswith(f'rayjobs.ray.io is forbidden: User "system:serviceaccount:{allowed[0]}:ci" '
                                      f'cannot create resource "rayjobs" in API group "ray.io" in the namespace '
                                      f'"{ns_no}"')
    assert jobs_in(custom, ns_no) == []


def test_a_verb_the_role_lacks_is_403(api_url: str, allowed: tuple[str, str, str]) -> None:
    ns_ok, _, token = allowed
    resp = requests.delete(f"{api_url}/apis/ray.io/v1/namespaces/{ns_ok}/rayjobs/ci-job",
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 403 and "cannot delete" in resp.json()["message"]


def test_an_api_server_refusal_keeps_its_code_and_message(api_url: str, allowed: tuple[str, str, str]) -> None:
    ns_ok, _, token = allowed
    assert post(api_url, ns_ok, token).status_code == 201
    again = post(api_url, ns_ok, token)
    assert again.status_code == 409 and again.json()["message"] == 'rayjobs.ray.io "ci-job" already exists'


def test_the_openapi_document_describes_the_kubernetes_shaped_paths(api_url: str) -> None:
    doc = requests.get(f"{api_url}/openapi.json", timeout=10).json()
    assert "/apis/ray.io/v1/namespaces/{namespace}/rayjobs/{name}/log" in doc["paths"]
    assert "RayJob" in doc["components"]["schemas"]
    assert requests.get(f"{api_url}/docs", timeout=10).status_code == 200


def test_lists_filter_by_label_selector_and_page_with_limit_and_continue(
        api_url: str, allowed: tuple[str, str, str]) -> None:
    ns_ok, _, token = allowed
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{api_url}/apis/ray.io/v1/namespaces/{ns_ok}/rayjobs"
    for name, team in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        body = {**JOB, "metadata": {"name": name, "labels": {"team": team}}}
        assert requests.post(url, json=body, headers=auth, timeout=30).status_code == 201
    first = requests.get(url, params={"limit": 2}, headers=auth, timeout=30).json()
    assert len(first["items"]) == 2 and first["metadata"]["continue"]
    rest = requests.get(url, params={"limit": 2, "continue": first["metadata"]["continue"]}, headers=auth,
                        timeout=30).json()
    assert sorted(o["metadata"]["name"] for o in first["items"] + rest["items"]) == ["a1", "a2", "b1"]
    assert not rest["metadata"].get("continue")
    team_a = requests.get(url, params={"labelSelector": "team=a"}, headers=auth, timeout=30).json()
    assert sorted(o["metadata"]["name"] for o in team_a["items"]) == ["a1", "a2"]


def test_a_body_that_is_not_a_rayjob_is_422_before_anything_is_sent(api_url: str, allowed: tuple[str, str, str],
                                                                     custom: Any) -> None:
    ns_ok, _, token = allowed
    resp = requests.post(f"{api_url}/apis/ray.io/v1/namespaces/{ns_ok}/rayjobs", json={"spec": {"suspend": "maybe"}},
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 422 and "suspend" in resp.text
    assert jobs_in(custom, ns_ok) == []
