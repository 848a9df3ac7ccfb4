"""One synchronous connection to the API server for the SDK, the CLI and the REST API.

Built on the official ``kubernetes`` client (the one notebook users already have configured); the operator keeps its
own async client. Configuration follows kubectl: an explicit kubeconfig/context, else in-cluster (a pod's service
account), else ``$KUBECONFIG`` / ``~/.kube/config``. Every call goes through :meth:`Client.call`, which turns an
``ApiException`` into the SDK's typed errors with the API server's message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayop.sdk import errors


@dataclass(frozen=True)
class Resource:
    """A namespaced resource type: where its objects live in the API."""

    group: str
    version: str
    plural: str
    kind: str

    def __str__(self) -> str:
        return f"{self.group}/{self.version} {self.plural}"


RAYCLUSTERS = Resource("ray.io", "v1", "rayclusters", "RayCluster")
RAYJOBS = Resource("ray.io", "v1", "rayjobs", "RayJob")
RAYSERVICES = Resource("ray.io", "v1", "rayservices", "RayService")
BY_PLURAL = {r.plural: r for r in (RAYCLUSTERS, RAYJOBS, RAYSERVICES)}

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def in_pod() -> bool:
    """True when this process runs in a Kubernetes pod (the service host env the kubelet injects)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


class Client:
    """The API server, for one identity; ``namespace`` is the default for calls that name none."""

    def __init__(self, api_client: Any, namespace: str = "default") -> None:
        from kubernetes import client as k8s

        self.api_client = api_client
        self.namespace = namespace
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None,
                namespace: str | None = None) -> Client:
        """Connect like kubectl: explicit kubeconfig/context, else in-cluster, else $KUBECONFIG/~/.kube/config."""
        from kubernetes import config

        try:
            return cls._connect(kubeconfig, context, namespace)
        except config.ConfigException as exc:
            raise errors.ConfigError(f"no usable Kubernetes configuration: {exc} (pass --kubeconfig/--context, set "
                                     "KUBECONFIG, or run in a pod)") from None

    @classmethod
    def _connect(cls, kubeconfig: str | None, context: str | None, namespace: str | None) -> Client:
        from kubernetes import client as k8s
        from kubernetes import config

        cfg = k8s.Configuration()
        default_ns = "default"
        if kubeconfig or context or not in_pod():
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
            try:
                _, active = config.list_kube_config_contexts(config_file=kubeconfig)
                chosen = active
                if context:
                    chosen = next(c for c in config.list_kube_config_contexts(config_file=kubeconfig)[0]
                                  if c["name"] == context)
                default_ns = chosen.get("context", {}).get("namespace") or "default"
            except (StopIteration, config.ConfigException, TypeError, KeyError):
                pass
        else:
            config.load_incluster_config(client_configuration=cfg)
            if _SA_NAMESPACE.exists():
                default_ns = _SA_NAMESPACE.read_text().strip() or "default"
        return cls(k8s.ApiClient(cfg), namespace or default_ns)

    def ns(self, namespace: str | None) -> str:
        return namespace or self.namespace

    def call(self, fn: Callable[..., Any], *args: Any, resource: Resource | None = None, **kwargs: Any) -> Any:
        """Run one API call; an ApiException becomes the typed SDK error carrying the server's message."""
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise errors.from_response(int(exc.status or 0), exc.body or exc.reason,
                                       str(resource) if resource else "") from None

    # -- generic custom objects (dicts on the wire) --------------------------------------------------------------
    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        return dict(self.call(self.custom.get_namespaced_custom_object, res.group, res.version, self.ns(namespace),
                              res.plural, name, resource=res))

    def list_page(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
             limit: int | None = None, continue_: str | None = None,
             all_namespaces: bool = False) -> dict[str, Any]:
        """One page of a list (``metadata.continue`` names the next one)."""
        kwargs: dict[str, Any] = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if limit:
            kwargs["limit"] = limit
        if continue_:
            kwargs["_continue"] = continue_
        if all_namespaces:
            return dict(self.call(self.custom.list_cluster_custom_object, res.group, res.version, res.plural,
                                  resource=res, **kwargs))
        return dict(self.call(self.custom.list_namespaced_custom_object, res.group, res.version, self.ns(namespace),
                              res.plural, resource=res, **kwargs))

    def list_all(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                 all_namespaces: bool = False) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self.list_page(res, namespace, label_selector=label_selector, limit=500, continue_=token,
                             all_namespaces=all_namespaces)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def create(self, res: Resource, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        ns = self.ns(namespace or (body.get("metadata") or {}).get("namespace"))
        return dict(self.call(self.custom.create_namespaced_custom_object, res.group, res.version, ns, res.plural,
                              body, resource=res))

    def patch(self, res: Resource, name: str, patch: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """A JSON merge patch (lists are replaced whole; callers send the full list they mean)."""
        return dict(self.call(self.custom.patch_namespaced_custom_object, res.group, res.version, self.ns(namespace),
                              res.plural, name, patch, _content_type="application/merge-patch+json", resource=res))

    def delete(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        return dict(self.call(self.custom.delete_namespaced_custom_object, res.group, res.version, self.ns(namespace),
                              res.plural, name, body={"propagationPolicy": "Foreground"}, resource=res))

    # -- core objects the waits and explanations read -------------------------------------------------------------
    def pods(self, namespace: str | None, label_selector: str) -> list[dict[str, Any]]:
        out = self.call(self.core.list_namespaced_pod, self.ns(namespace), label_selector=label_selector,
                        _preload_content=False)
        return list(_json(out).get("items") or [])

    def events_for(self, namespace: str | None, name: str, kind: str | None = None) -> list[dict[str, Any]]:
        selector = f"involvedObject.name={name}" + (f",involvedObject.kind={kind}" if kind else "")
        out = self.call(self.core.list_namespaced_event, self.ns(namespace), field_selector=selector,
                        _preload_content=False)
        return list(_json(out).get("items") or [])

    def pod_log(self, namespace: str | None, pod: str, container: str | None = None,
                tail_lines: int | None = None) -> str:
        kwargs: dict[str, Any] = {}
        if container:
            kwargs["container"] = container
        if tail_lines:
            kwargs["tail_lines"] = tail_lines
        return str(self.call(self.core.read_namespaced_pod_log, pod, self.ns(namespace), **kwargs))


def _json(response: Any) -> dict[str, Any]:
    """The JSON body of a ``_preload_content=False`` response, as plain dicts (camelCase, like custom objects)."""
    import json

    data = json.loads(response.data or b"{}")
    return data if isinstance(data, dict) else {}
