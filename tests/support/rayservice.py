"""RayService helpers for tests on the real control plane: a manifest applied, as a user applies it, in a fresh
namespace, and taken down with its clusters afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import wait_for


@contextlib.contextmanager
def applied_in_fresh_namespace(api_client: Any, manifest: Path, name: str,
                               teardown_timeout: float = 180) -> Iterator[tuple[str, Any, Any]]:
    """Every document of ``manifest`` (RayServices through the custom-objects API, the rest as they are) in a new
    namespace: yields (namespace, CustomObjectsApi, CoreV1Api). Afterwards RayService ``name`` is deleted, its
    clusters are waited out, and the namespace goes."""
    from kubernetes import client, utils

    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    ns = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": ns}})
    for doc in (d for d in yaml.safe_load_all(manifest.read_text()) if d):
        if doc["kind"] == "RayService":
            custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayservices", doc)
        else:
            utils.create_from_dict(api_client, doc, namespace=ns)
    try:
        yield ns, custom, core
    finally:
        custom.delete_namespaced_custom_object("ray.io", "v1", ns, "rayservices", name)
        wait_for(lambda: not custom.list_namespaced_custom_object("ray.io", "v1", ns, "rayclusters")["items"],
                 timeout=teardown_timeout, what="clusters deleted with the RayService")
        core.delete_namespace(ns)
