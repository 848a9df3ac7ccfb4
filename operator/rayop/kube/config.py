"""Where the API server is and how to authenticate: from a kubeconfig file or the in-cluster service account.

rayop's async client uses :func:`load_connection` everywhere, so the operator, the
autoscaler sidecar and the tools all talk to the same server the same way.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Connection:
    """Everything needed to open TLS connections to one API server."""

    server: str
    ca_path: str | None = None
    ca_data: bytes | None = None
    cert_path: str | None = None
    cert_data: bytes | None = None
    key_path: str | None = None
    key_data: bytes | None = None
    token: str | None = None
    token_path: str | None = None
    insecure: bool = False
    namespace: str = "default"
    #: Connected through the pod's own service account: cluster DNS names resolve, pod IPs may not be routable.
    in_cluster: bool = False

    def bearer_token(self) -> str | None:
        """The current token; a projected service-account token is re-read because kubelet rotates it."""
        if self.token_path:
            return Path(self.token_path).read_text().strip()
        return self.token


def _data(value: str | None) -> bytes | None:
    return base64.b64decode(value) if value else None


def _resolve(base: Path, path: str | None) -> str | None:
    if not path:
        return None
    p = Path(path)
    return str(p if p.is_absolute() else base / p)


def from_kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> Connection:
    """Read the current (or named) context of a kubeconfig file."""
    file = Path(path).expanduser()
    doc: dict[str, Any] = yaml.safe_load(file.read_text()) or {}
    ctx_name = context or doc.get("current-context")
    contexts = {c["name"]: c["context"] for c in doc.get("contexts", [])}
    if ctx_name not in contexts:
        raise ValueError(f"kubeconfig {file}: context {ctx_name!r} not found")
    ctx = contexts[ctx_name]
    cluster = {c["name"]: c["cluster"] for c in doc.get("clusters", [])}[ctx["cluster"]]
    user = {u["name"]: u.get("user") or {} for u in doc.get("users", [])}.get(ctx.get("user", ""), {})
    base = file.parent
    return Connection(
        server=cluster["server"].rstrip("/"),
        ca_path=_resolve(base, cluster.get("certificate-authority")),
        ca_data=_data(cluster.get("certificate-authority-data")),
        cert_path=_resolve(base, user.get("client-certificate")),
        cert_data=_data(user.get("client-certificate-data")),
        key_path=_resolve(base, user.get("client-key")),
        key_data=_data(user.get("client-key-data")),
        token=user.get("token"),
        token_path=_resolve(base, user.get("tokenFile")),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        namespace=ctx.get("namespace", "default"),
    )


def in_cluster(env: dict[str, str]) -> Connection:
    """The pod's own service account (``KUBERNETES_SERVICE_HOST``/``_PORT`` and the mounted token and CA)."""
    host, port = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:
        host = f"[{host}]"
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    return Connection(
        server=f"https://{host}:{port}",
        ca_path=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
        token_path=str(SERVICE_ACCOUNT_DIR / "token"),
        namespace=namespace_file.read_text().strip() if namespace_file.exists() else "default",
        in_cluster=True,
    )


def load_connection(kubeconfig: str | None, env: dict[str, str] | None = None) -> Connection:
    """Explicit kubeconfig, else in-cluster, else ``$KUBECONFIG`` / ``~/.kube/config`` (kubectl's order)."""
    env = dict(os.environ) if env is None else env
    if kubeconfig:
        return from_kubeconfig(kubeconfig)
    if "KUBERNETES_SERVICE_HOST" in env and (SERVICE_ACCOUNT_DIR / "token").exists():
        return in_cluster(env)
    default = env.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
    return from_kubeconfig(default)
