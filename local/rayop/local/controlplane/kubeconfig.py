"""Write kubeconfig files for the local control plane's users."""

from __future__ import annotations

from pathlib import Path

import yaml

from .pki import KeyPair


def write(path: Path, server: str, ca_cert: Path, user: KeyPair, name: str = "rayop-local") -> None:
    """A kubeconfig with one cluster, one client-certificate user and one current context."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": name, "user": {"client-certificate": str(user.cert), "client-key": str(user.key)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
