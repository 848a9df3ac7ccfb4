"""``make demo``: the product working end to end on the local control plane, then torn down.

Starts the local control plane with kwok nodes and one local node, installs the CRDs, runs the operator, applies
every manifest in ``examples/``, waits for each RayCluster to be ready, shows what was created, then connects to
the Ray cluster on the local node like a notebook would and runs a task on its worker; each RayJob is applied as a
CI pipeline would and waited for until it is Complete, with its submitter's logs shown.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from rayop.local import devenv
from rayop.local.controlplane.tools import bin_dir
from rayop.local.source import repo_root

#: Run by the demo from the host: the same call a data scientist's notebook makes.
CLIENT_SCRIPT = """
import socket, sys, time
import ray
for attempt in range(3):  # the head's per-client server can start slowly on a busy machine
    try:
        ray.init(sys.argv[1], logging_level="ERROR")
        break
    except ConnectionError:
        ray.shutdown()
        if attempt == 2:
            raise
        time.sleep(5)
@ray.remote(num_cpus=1)
def where():
    import ray, socket
    return socket.gethostname(), ray.get_runtime_context().get_node_id()
host, node = ray.get(where.remote())
print(f"task ran in pod {host} (Ray node {node[:12]})")
print("cluster resources:", {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "memory")})
ray.shutdown()
"""


def _kubectl(kubeconfig: str, *args: str, check: bool = True) -> str:
    out = subprocess.run([str(bin_dir() / "kubectl"), "--kubeconfig", kubeconfig, *args],
                         capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr}")
    return out.stdout


def _example_clusters(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(root.glob("examples/*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RayCluster":
                found.append((path, doc))
    return found


def _example_jobs(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in sorted(root.glob("examples/*/*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc and doc.get("kind") == "RayJob"]


def _run_job(kubeconfig: str, root: Path, path: Path, name: str, timeout: float = 300.0) -> bool:
    """Apply a RayJob as a CI pipeline would and wait for its one word (Complete or Failed)."""
    print(f"== applying {path.relative_to(root)} (RayJob {name})", flush=True)
    start = time.monotonic()
    _kubectl(kubeconfig, "apply", "--server-side", "-f", str(path))
    state = ""
    while time.monotonic() - start < timeout and state not in ("Complete", "Failed"):
        time.sleep(0.5)
        state = _kubectl(kubeconfig, "get", "rayjob", name, "-o", "jsonpath={.status.jobDeploymentStatus}",
                         check=False).strip()
    print(f"RayJob {name} {state or 'not finished'} after {time.monotonic() - start:.1f}s")
    print(_kubectl(kubeconfig, "get", "rayjob", name))
    print(_kubectl(kubeconfig, "logs", f"job/{name}", check=False)[-1500:])
    return state == "Complete"


def _wait_ready(kubeconfig: str, name: str, timeout: float = 240.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        state = _kubectl(kubeconfig, "get", "raycluster", name, "-o", "jsonpath={.status.state}", check=False)
        if state.strip() == "ready":
            return time.monotonic() - start
        time.sleep(0.5)
    raise TimeoutError(f"RayCluster {name} not ready after {timeout}s")


def main() -> int:
    root = repo_root()
    workdir = Path(tempfile.mkdtemp(prefix="rayop-demo-"))
    print("== starting the local control plane, the operator and one local node", flush=True)
    if devenv.up(workdir, local_nodes=1) != 0:
        return 1
    kubeconfig = str(workdir / "cp" / "admin.kubeconfig")
    try:
        print(_kubectl(kubeconfig, "get", "nodes", "-L", "rayop.io/node-type"))
        for path, doc in _example_clusters(root):
            name = doc["metadata"]["name"]
            print(f"== applying {path.relative_to(root)} (RayCluster {name})", flush=True)
            _kubectl(kubeconfig, "apply", "--server-side", "-f", str(path))
            took = _wait_ready(kubeconfig, name)
            print(f"RayCluster {name} ready in {took:.1f}s")
            print(_kubectl(kubeconfig, "get", "raycluster", name))
            print(_kubectl(kubeconfig, "get", "pods,services", "-l", f"ray.io/cluster={name}", "-o", "wide"))
            selector = (doc["spec"]["headGroupSpec"]["template"].get("spec") or {}).get("nodeSelector") or {}
            if selector.get("rayop.io/node-type") == "local":
                head_ip = _kubectl(kubeconfig, "get", "raycluster", name, "-o", "jsonpath={.status.head.podIP}")
                print(f"== connecting like a notebook: ray.init('ray://{head_ip}:10001')", flush=True)
                done = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, f"ray://{head_ip}:10001"],
                                      text=True, capture_output=True, timeout=180, check=False)
                print(done.stdout.strip() or done.stderr[-2000:])
                if done.returncode != 0:
                    return 1
        for path, doc in _example_jobs(root):
            if not _run_job(kubeconfig, root, path, doc["metadata"]["name"]):
                return 1
        print("== events", flush=True)
        print(_kubectl(kubeconfig, "get", "events", "--field-selector", "involvedObject.kind=RayCluster"))
        print(_kubectl(kubeconfig, "get", "events", "--field-selector", "involvedObject.kind=RayJob"))
        return 0
    finally:
        print("== tearing down", flush=True)
        devenv.down(workdir)


if __name__ == "__main__":
    sys.exit(main())
