"""``rayop crds snapshot-k8s``: record the Kubernetes types rayop's CRDs embed, from the pinned API server.

The API server of the pinned release serves its OpenAPI v3 document; we keep the component schemas of the groups
our CRDs embed (core/v1, networking/v1, meta), without descriptions, as a small gzip file next to this module. CRD
generation is then offline and reproducible, and the snapshot changes only when the pinned release changes.
"""

from __future__ import annotations

import gzip
import json
import ssl
import urllib.request
from pathlib import Path
from typing import Any

from rayop.kube.config import from_kubeconfig

from .generate import SNAPSHOT

GROUP_PATHS = ("api/v1", "apis/networking.k8s.io/v1", "apis/policy/v1")


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def write_snapshot(kubeconfig: str | None, target: Path = SNAPSHOT) -> Path:
    if not kubeconfig:
        raise SystemExit("--kubeconfig of a control plane of the pinned release is required")
    conn = from_kubeconfig(kubeconfig)
    ctx = ssl.create_default_context(cafile=conn.ca_path)
    if conn.cert_path and conn.key_path:
        ctx.load_cert_chain(conn.cert_path, conn.key_path)
    components: dict[str, Any] = {}
    for path in GROUP_PATHS:
        with urllib.request.urlopen(f"{conn.server}/openapi/v3/{path}", context=ctx, timeout=30) as resp:
            doc = json.load(resp)
        components.update(doc.get("components", {}).get("schemas", {}))
    data = json.dumps(_strip(components), sort_keys=True, separators=(",", ":")).encode()
    with gzip.GzipFile(target, "wb", mtime=0) as fh:
        fh.write(data)
    return target
