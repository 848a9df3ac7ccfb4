"""``rayop dev up|down|status``: the local control plane, rayop's CRDs and the operator, in the background.

``up`` starts a detached supervisor (``rayop dev serve``) that owns every process, waits until it reports ready and
prints ``KUBECONFIG=<path>`` last. ``down`` asks the supervisor to stop (it stops its children in reverse order and
removes nothing the user needs: the work directory keeps the logs until the next ``up``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from .controlplane.cluster import ControlPlane, ControlPlaneConfig
from .controlplane.processes import Component, free_port, stop_process_group
from .source import repo_root

READY_FILE = "ready.json"
PID_FILE = "supervisor.pid"


def default_workdir() -> Path:
    return Path.home() / ".cache" / "rayop" / "dev"


def crd_files() -> list[Path]:
    return sorted((repo_root() / "crds").glob("*.yaml"))


def _supervisor_pid(workdir: Path) -> int | None:
    try:
        pid = int((workdir / PID_FILE).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def up(workdir: Path, *, local_nodes: int = 0, kwok: bool = True, operator: bool = True,
       timeout: float = 300.0) -> int:
    """Start the supervisor in the background and wait for it to be ready."""
    if _supervisor_pid(workdir):
        print(f"already running (see `rayop dev status --workdir {workdir}`)", file=sys.stderr)
        ready = json.loads((workdir / READY_FILE).read_text())
        print(f"KUBECONFIG={ready['kubeconfig']}")
        return 0
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    argv = [sys.executable, "-m", "rayop.cli", "dev", "serve", "--workdir", str(workdir),
            "--local-nodes", str(local_nodes)]
    argv += [] if kwok else ["--no-kwok"]
    argv += [] if operator else ["--no-operator"]
    with (workdir / "supervisor.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (workdir / READY_FILE).exists():
            ready = json.loads((workdir / READY_FILE).read_text())
            for line in ready.get("summary", []):
                print(line, file=sys.stderr)
            print(f"KUBECONFIG={ready['kubeconfig']}")
            return 0
        if proc.poll() is not None:
            print((workdir / "supervisor.log").read_text()[-4000:], file=sys.stderr)
            print(f"rayop dev up failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        time.sleep(0.1)
    stop_process_group(proc.pid)
    print("rayop dev up timed out", file=sys.stderr)
    return 1


def down(workdir: Path, timeout: float = 60.0) -> int:
    pid = _supervisor_pid(workdir)
    if pid is None:
        print("nothing running", file=sys.stderr)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _supervisor_pid(workdir):
        time.sleep(0.1)
    if _supervisor_pid(workdir):
        stop_process_group(pid, grace=1)
    (workdir / READY_FILE).unlink(missing_ok=True)
    print("stopped", file=sys.stderr)
    return 0


def status(workdir: Path) -> int:
    pid = _supervisor_pid(workdir)
    if pid is None or not (workdir / READY_FILE).exists():
        print("not running")
        return 1
    ready = json.loads((workdir / READY_FILE).read_text())
    print(f"supervisor pid {pid}")
    total = 0.0
    for name, cpid in ready.get("pids", {}).items():
        rss = rss_mib(cpid)
        total += rss
        print(f"  {name:26s} pid {cpid:<8d} RSS {rss:7.1f} MiB")
    print(f"  {'total':26s}              RSS {total:7.1f} MiB")
    print(f"KUBECONFIG={ready['kubeconfig']}")
    return 0


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants, in MiB (0 if gone)."""
    total_kib = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            todo.extend(int(c) for c in children)
    return total_kib / 1024


def _wait_http(url: str, comp: Component, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        comp.check_alive()
        with contextlib.suppress(Exception), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{comp.name} not healthy at {url}:\n{comp.log_tail()}")


#: What the local node runs for any image: the host's virtualenv (see rayop.local.localnode).
LOCAL_IMAGE = "rayop-local"


def start_operator(kubeconfig: Path, logdir: Path, extra: list[str] | None = None) -> tuple[Component, int]:
    """``rayop operator`` as a subprocess, returned once its liveness endpoint answers."""
    port = free_port()
    comp = Component("rayop-operator", [
        sys.executable, "-m", "rayop.cli", "operator", "--kubeconfig", str(kubeconfig),
        "--health-port", str(port), "--metrics-port", "0", "--log-format", "plain",
        # The local node's "image" is this virtualenv, which holds rayop: sidecars run rayop's own autoscaler.
        "--autoscaler-image", LOCAL_IMAGE, *(extra or []),
    ], logdir / "rayop-operator.log")
    comp.start()
    _wait_http(f"http://127.0.0.1:{port}/healthz", comp)
    return comp, port


def start_local_nodes(kubeconfig: Path, logdir: Path, count: int) -> Component:
    """The local node agent (real processes for pods) as a subprocess."""
    comp = Component("rayop-localnode", [
        sys.executable, "-m", "rayop.local.localnode", "--kubeconfig", str(kubeconfig), "--nodes", str(count),
    ], logdir / "rayop-localnode.log")
    comp.start()
    return comp


def serve(workdir: Path, *, local_nodes: int = 0, kwok: bool = True, operator: bool = True) -> int:
    """The supervisor: start everything, write ready.json, block until SIGTERM, stop everything."""
    (workdir / PID_FILE).write_text(str(os.getpid()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    config = ControlPlaneConfig(workdir=workdir / "cp", with_kwok=kwok)
    if not kwok:
        config.node_shapes = ()
    extra: list[Component] = []
    cp = ControlPlane.start(config)
    try:
        t = time.monotonic()
        cp.apply_crds(crd_files())
        summary = [f"control plane: {', '.join(f'{k} {v:.2f}s' for k, v in cp.timings.items())}",
                   f"CRDs installed in {time.monotonic() - t:.2f}s"]
        if local_nodes:
            t = time.monotonic()
            agent = start_local_nodes(cp.kubeconfig, cp.logs, local_nodes)
            extra.append(agent)
            deadline = time.monotonic() + 60
            while cp.ready_nodes("local") < local_nodes:
                agent.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"local nodes not Ready after 60s:\n{agent.log_tail()}")
                time.sleep(0.2)
            summary.append(f"{local_nodes} local node(s) Ready in {time.monotonic() - t:.2f}s")
        if operator:
            t = time.monotonic()
            comp, port = start_operator(cp.kubeconfig, cp.logs)
            extra.append(comp)
            summary.append(f"operator healthy in {time.monotonic() - t:.2f}s (liveness :{port}/healthz)")
        pids = cp.component_pids() | {c.name: c.process.pid for c in extra if c.process}
        (workdir / READY_FILE).write_text(json.dumps(
            {"kubeconfig": str(cp.kubeconfig), "pids": pids, "summary": summary, "logs": str(cp.logs)}))
        while not stop.wait(1.0):
            for comp in extra:
                if not comp.alive():
                    print(f"{comp.name} exited:\n{comp.log_tail()}", file=sys.stderr)
                    stop.set()
        return 0
    finally:
        for comp in reversed(extra):
            comp.stop()
        cp.stop()
        (workdir / PID_FILE).unlink(missing_ok=True)
        (workdir / READY_FILE).unlink(missing_ok=True)
