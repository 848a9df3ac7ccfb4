"""Keeps the autoscaling loop alive inside its container.

Why a supervisor: with autoscaler v2 the head pod has ``restartPolicy: Never`` (KubeRay's rule, kept for
compatibility), so the kubelet never restarts a sidecar that died, and a cluster whose autoscaler died would stop
scaling while looking healthy. The loop loads Ray's C++ GCS client, which ends the process when GCS has been
unreachable for 60 s (seen with Ray 2.60 when a head restarts in place: "Failed to connect to GCS within 60
seconds"), and the loop may be the process the OOM killer picks. So the container's main process is this small
parent, which imports nothing from Ray and runs the loop in a child process, restarting it with back-off whenever
it dies; the new child waits for GCS before its first pass.

The child starts from scratch each time; that is safe because the loop keeps nothing in memory that it needs after
a restart (see :mod:`rayop.autoscaler.loop`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

log = logging.getLogger("rayop.autoscaler.supervisor")

#: Flag that makes ``rayop autoscaler`` run the loop itself instead of supervising a child that does.
WORKER_FLAG = "--worker"



_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Run in the child before exec: get SIGKILL when the supervisor dies, so a killed sidecar never leaves an
    orphaned loop behind. Linux only (prctl); elsewhere the child simply outlives a killed parent."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def worker_command(argv: list[str]) -> list[str]:
    """The child's command line: this autoscaler with the same flags, running the loop itself."""
    return [sys.executable, "-m", "rayop.autoscaler", WORKER_FLAG, *argv]


def supervise(command: list[str], backoff_initial: float = 1.0, backoff_max: float = 30.0) -> int:
    """Run ``command`` (see :func:`worker_command`) until SIGTERM/SIGINT; restart it whenever it exits.

    A child that ran for over a minute before dying restarts after ``backoff_initial``; quicker deaths double the
    wait up to ``backoff_max`` (as a kubelet's CrashLoopBackOff would). Signals are forwarded to the child.
    """
    stop = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    backoff = backoff_initial
    while not stop.is_set():
        started = time.monotonic()
        child = subprocess.Popen(command, preexec_fn=die_with_parent)
        log.info("autoscaler loop running as pid %d", child.pid)
        rc = child.wait()
        if stop.is_set():
            return 0
        if time.monotonic() - started > 60:
            backoff = backoff_initial
        log.warning("autoscaler loop (pid %d) exited with %s; restarting in %.0fs", child.pid, rc, backoff)
        stop.wait(backoff)
        backoff = min(backoff * 2, backoff_max)
    return 0
