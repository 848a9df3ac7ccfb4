"""Container processes: one cgroup (cgroup2, no controllers needed) per container, used to find and kill every
process a container started, like a container runtime does when the container's main process exits.

The cgroup2 hierarchy is ``/sys/fs/cgroup/unified`` on hybrid hosts or ``/sys/fs/cgroup`` on pure-v2 hosts; our
tree is ``<root>/rayop-localnode/<pod uid>/<container>``.  Without a writable cgroup2 the agent falls back to
process groups (then a daemonising child that calls setsid can escape).  Memory per pod is measured as the sum
of the PSS of the cgroup's processes (``/proc/<pid>/smaps_rollup``), so no memory controller is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

TREE = "rayop-localnode"


def cgroup2_root() -> Path | None:
    with open("/proc/mounts") as fh:
        mounts = [line.split() for line in fh]
    for _dev, mnt, fstype, *_ in mounts:
        if fstype == "cgroup2" and os.access(mnt, os.W_OK):
            return Path(mnt)
    return None


class CgroupTree:
    def __init__(self) -> None:
        root = cgroup2_root()
        self.base: Path | None = root / TREE if root else None
        if self.base is not None:
            self.base.mkdir(exist_ok=True)

    def container_dir(self, pod_uid: str, container: str) -> Path | None:
        if self.base is None:
            return None
        d = self.base / pod_uid / container
        d.mkdir(parents=True, exist_ok=True)
        return d

    def container_path(self, pod_uid: str, container: str) -> Path | None:
        return None if self.base is None else self.base / pod_uid / container

    def pids(self, cg: Path | None) -> list[int]:
        if cg is None or not cg.exists():
            return []
        out: list[int] = []
        try:
            subs = [cg, *[p for p in cg.rglob("*") if p.is_dir()]]
        except OSError:  # removed concurrently
            return []
        for sub in subs:
            with contextlib.suppress(OSError):
                out += [int(x) for x in (sub / "cgroup.procs").read_text().split()]
        return out

    def kill(self, cg: Path | None, timeout: float = 5.0) -> None:
        """SIGKILL everything in the cgroup and wait until it is empty."""
        if cg is None or not cg.exists():
            return
        kill_file = cg / "cgroup.kill"
        deadline = time.monotonic() + timeout
        while self.pids(cg) and time.monotonic() < deadline:
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            else:
                for pid in self.pids(cg):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def remove(self, path: Path | None) -> None:
        """Kill and rmdir a cgroup subtree (deepest first)."""
        if path is None or not path.exists():
            return
        dirs = sorted(
            [p for p in path.rglob("*") if p.is_dir()] + [path], key=lambda p: len(p.parts), reverse=True
        )
        for d in dirs:
            self.kill(d)
            with contextlib.suppress(OSError):
                d.rmdir()

    def pod_dir(self, pod_uid: str) -> Path | None:
        return None if self.base is None else self.base / pod_uid

    def cleanup_all(self) -> int:
        """Kill every process of every pod cgroup (a crashed agent's containers); returns how many pods."""
        if self.base is None:
            return 0
        pods = [p for p in self.base.iterdir() if p.is_dir()]
        for p in pods:
            self.remove(p)
        return len(pods)

    def pss_bytes(self, cg: Path | None) -> int:
        total = 0
        for pid in self.pids(cg):
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        return total


def which_or(name: str, default: str) -> str:
    return shutil.which(name) or default
