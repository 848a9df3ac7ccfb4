"""Start, watch and stop the control plane's child processes.

Every component runs in its own session (process group) with its output in ``<workdir>/logs/<name>.log``, so a
failed start can be diagnosed and a stop leaves no stray processes behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Run in the child before exec: get SIGKILL when the process that started us dies (a killed test run must not
    leave an API server behind). Linux only; elsewhere components are stopped by :meth:`Component.stop` alone."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Component:
    """A running child process."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = field(default=0.0)

    def start(self, env: dict[str, str] | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env, preexec_fn=die_with_parent,
        )
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        """Raise with the tail of the component's log if it exited."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with code {self.process.returncode}; last log lines:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after ``grace`` seconds."""
        if self.process is None:
            return
        stop_process_group(self.process.pid, grace)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)


def stop_process_group(pid: int, grace: float = 10.0) -> None:
    """Terminate a process group led by ``pid``: SIGTERM, wait up to ``grace``, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader keeps the group "alive"; reap it if it is our child.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pgid, os.WNOHANG)
        if done == pgid:
            return _group_alive_after_reap(pgid)
    return True


def _group_alive_after_reap(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
