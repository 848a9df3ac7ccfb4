"""The sidecar's supervisor restarts a dead autoscaler loop (the head pod's restartPolicy Never would not)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rayop.autoscaler.supervisor import WORKER_FLAG, worker_command
from tests.helpers import wait_for

pytestmark = pytest.mark.unit

#: A child that records its pid, dies (exit 1) the first two times, then stays up.
CHILD = """
import os, sys, time
log = sys.argv[1]
with open(log, "a") as f:
    f.write(f"{os.getpid()}\\n")
if len(open(log).read().split()) < 3:
    sys.exit(1)
time.sleep(600)
"""


def _supervisor(log: Path) -> subprocess.Popen[bytes]:
    code = ("import sys; from rayop.autoscaler.supervisor import supervise; "
            f"sys.exit(supervise([sys.executable, '-c', {CHILD!r}, {str(log)!r}], backoff_initial=0.1))")
    return subprocess.Popen([sys.executable, "-c", code])


def _pids(log: Path) -> list[int]:
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def test_the_worker_command_runs_the_same_flags_in_worker_mode() -> None:
    assert worker_command(["--cluster-name", "c"])[1:] == ["-m", "rayop.autoscaler", WORKER_FLAG, "--cluster-name", "c"]


def test_a_loop_that_dies_is_restarted_and_sigterm_stops_both(tmp_path: Path) -> None:
    log = tmp_path / "pids"
    sup = _supervisor(log)
    try:
        wait_for(lambda: len(_pids(log)) == 3, timeout=30, interval=0.1, what="two restarts")
        child = _pids(log)[-1]
        time.sleep(0.5)
        assert Path(f"/proc/{child}").exists(), "the third child should still run"
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(10) == 0
        wait_for(lambda: not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text()
                 .split()[2], timeout=10, interval=0.1, what="the child stopped with its supervisor")
    finally:
        if sup.poll() is None:
            sup.kill()
