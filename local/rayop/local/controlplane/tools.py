"""Build the Kubernetes tools of the local control plane from Go modules, cached by their pins.

No binary is downloaded: each tool is compiled from the Go module proxy through a small wrapper module under
``go/<tool>/`` beside this file, whose ``go.mod``/``go.sum`` pin the exact versions (Kubernetes needs a ``replace``
for every staging module; etcd's own ``replace`` directives break ``go install``; see those folders).  They ship as
package data, so an installed wheel can build the tools too (given Go).  The cache key is a hash of the wrapper
modules, so binaries are rebuilt only when a pin changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: Kubernetes release built for the local control plane; must match go/kubernetes/go.mod beside this file.
KUBERNETES_VERSION = "v1.36.3"


@dataclass(frozen=True)
class Tool:
    """One binary: which wrapper module builds it, from which Go package."""

    name: str
    module_dir: str
    package: str
    ldflags: str = ""


_K8S_LDFLAGS = (
    f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION} "
    "-X k8s.io/component-base/version.gitMajor=1 "
    f"-X k8s.io/component-base/version.gitMinor={KUBERNETES_VERSION.split('.')[1]}"
)

TOOLS: tuple[Tool, ...] = (
    Tool("etcd", "etcd", "go.etcd.io/etcd/server/v3"),
    Tool("kwok", "kwok", "sigs.k8s.io/kwok/cmd/kwok"),
    Tool("kube-apiserver", "kubernetes", "k8s.io/kubernetes/cmd/kube-apiserver", _K8S_LDFLAGS),
    Tool("kube-controller-manager", "kubernetes", "k8s.io/kubernetes/cmd/kube-controller-manager", _K8S_LDFLAGS),
    Tool("kube-scheduler", "kubernetes", "k8s.io/kubernetes/cmd/kube-scheduler", _K8S_LDFLAGS),
    Tool("kubectl", "kubernetes", "k8s.io/kubernetes/cmd/kubectl", _K8S_LDFLAGS),
    Tool("kube-proxy", "kubernetes", "k8s.io/kubernetes/cmd/kube-proxy", _K8S_LDFLAGS),
    Tool("helm", "helm", "helm.sh/helm/v3/cmd/helm"),
)


def source_dir() -> Path:
    """The wrapper modules, shipped beside this file (``go/<tool>/``) in the source tree and in the wheel alike."""
    candidate = Path(__file__).resolve().parent / "go"
    if (candidate / "kubernetes" / "go.mod").exists():
        return candidate
    raise FileNotFoundError(f"{candidate}/*/go.mod not found: the rayop installation is missing its Go pins")


def cache_root() -> Path:
    """Where built binaries are kept across runs (``$XDG_CACHE_HOME/rayop/bin`` or ``~/.cache/rayop/bin``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rayop" / "bin"


def pins_key(src: Path | None = None) -> str:
    """A short hash of every wrapper module's go.mod and go.sum: changes exactly when a pin changes."""
    src = src or source_dir()
    digest = hashlib.sha256()
    for module in sorted({t.module_dir for t in TOOLS}):
        for fname in ("go.mod", "go.sum"):
            path = src / module / fname
            digest.update(f"{module}/{fname}\0".encode())
            digest.update(path.read_bytes() if path.exists() else b"")
    return f"k8s-{KUBERNETES_VERSION}-{digest.hexdigest()[:12]}"


def bin_dir() -> Path:
    """The directory holding the binaries for the current pins (may not be built yet)."""
    return cache_root() / pins_key()


def missing_tools(directory: Path | None = None) -> list[Tool]:
    """Tools not yet present in the cache for the current pins."""
    directory = directory or bin_dir()
    return [t for t in TOOLS if not (directory / t.name).is_file()]


#: kwok's own stage definitions (from the module we build kwok from), concatenated into one config file.
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
KWOK_STAGES_FILE = "kwok-stages.yaml"


def _write_kwok_stages(src: Path, target: Path) -> None:
    """Copy kwok's upstream "fast" node and pod stages out of the Go module cache, next to the kwok binary."""
    env = {**os.environ, "GOFLAGS": "-buildvcs=false"}
    out = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"],
        cwd=src / "kwok", env=env, check=True, capture_output=True, text=True,
    )
    module_dir = Path(out.stdout.strip())
    docs = [(module_dir / rel).read_text() for rel in KWOK_STAGES]
    (target / KWOK_STAGES_FILE).write_text("\n---\n".join(d.strip() for d in docs) + "\n")


#: What the control plane itself needs (helm and kube-proxy are only needed by chart and local-node work).
CONTROL_PLANE_TOOLS = ("etcd", "kwok", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


def ensure_tools(log: bool = True, names: tuple[str, ...] | None = None) -> Path:
    """Build whatever is missing (``go build`` with the module cache) and return the binary directory."""
    target = bin_dir()
    todo = [t for t in missing_tools(target) if names is None or t.name in names]
    if not todo and (target / KWOK_STAGES_FILE).is_file():
        return target
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build the local control plane (go build of Kubernetes modules)")
    src = source_dir()
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    for tool in todo:
        start = time.monotonic()
        if log:
            print(f"building {tool.name} from {tool.package} ...", file=sys.stderr, flush=True)
        tmp = target / f".{tool.name}.tmp"
        cmd = ["go", "build", "-trimpath", "-o", str(tmp)]
        if tool.ldflags:
            cmd += ["-ldflags", tool.ldflags]
        cmd.append(tool.package)
        subprocess.run(cmd, cwd=src / tool.module_dir, env=env, check=True)
        tmp.rename(target / tool.name)
        if log:
            print(f"built {tool.name} in {time.monotonic() - start:.0f}s", file=sys.stderr, flush=True)
    _write_kwok_stages(src, target)
    return target
