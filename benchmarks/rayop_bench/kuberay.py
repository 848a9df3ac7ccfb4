"""KubeRay's operator, built from its Go module, and its CRDs, taken from the same module in the module cache.

The wrapper module ``benchmarks/kuberay`` pins the version (``require`` + ``tools.go``, then ``go build``:
``go install`` ignores replace directives). The binary is cached in ``~/.cache/rayop/bin/kuberay-<version>/`` and
built only if missing, at ``nice -n 10`` because the machines are small and shared.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

MODULE = "github.com/ray-project/kuberay/ray-operator"
WRAPPER = Path(__file__).resolve().parents[1] / "kuberay"
BINARY = "ray-operator"


def version() -> str:
    """The KubeRay version pinned in ``benchmarks/kuberay/go.mod``."""
    match = re.search(rf"^require {re.escape(MODULE)} (\S+)", (WRAPPER / "go.mod").read_text(), re.M)
    if not match:
        raise RuntimeError(f"{WRAPPER / 'go.mod'} does not require {MODULE}")
    return match.group(1)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rayop" / "bin" / f"kuberay-{version()}"


def _go_env() -> dict[str, str]:
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}


def ensure_binary(log: bool = True) -> Path:
    """The operator binary, built with ``nice -n 10 go build`` if it is not cached yet."""
    target = cache_dir() / BINARY
    if target.is_file():
        return target
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build KubeRay's operator from its module")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{BINARY}.{os.getpid()}.tmp"
    start = time.monotonic()
    if log:
        print(f"building {MODULE}@{version()} (nice -n 10; several minutes on 2 cores) ...", file=sys.stderr)
    subprocess.run(["nice", "-n", "10", "go", "build", "-trimpath", "-o", str(tmp), MODULE],
                   cwd=WRAPPER, env=_go_env(), check=True)
    tmp.rename(target)
    if log:
        print(f"built ray-operator in {time.monotonic() - start:.0f}s -> {target}", file=sys.stderr)
    return target


def module_dir() -> Path:
    """Where the pinned module sits in the Go module cache (downloaded if needed)."""
    out = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", MODULE], cwd=WRAPPER, env=_go_env(),
                         check=True, capture_output=True, text=True)
    path = out.stdout.strip()
    if not path:
        subprocess.run(["go", "mod", "download", MODULE], cwd=WRAPPER, env=_go_env(), check=True)
        return module_dir()
    return Path(path)


def crd_files() -> list[Path]:
    """KubeRay's own CRDs (RayCluster, RayJob, RayService) from ``config/crd/bases`` of the pinned module."""
    files = sorted((module_dir() / "config" / "crd" / "bases").glob("ray.io_*.yaml"))
    if not files:
        raise FileNotFoundError(f"no CRDs under {module_dir()}/config/crd/bases")
    return files
