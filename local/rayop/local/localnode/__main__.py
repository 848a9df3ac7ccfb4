"""``python -m rayop.local.localnode --kubeconfig K --nodes N``: run the local node agent until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .agent import Agent, AgentConfig


def parse_args(argv: list[str] | None) -> AgentConfig:
    p = argparse.ArgumentParser(prog="python -m rayop.local.localnode", description=__doc__)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--node-prefix", default="rayop-local")
    p.add_argument("--cpu", help="CPU capacity per node (default: host CPU count)")
    p.add_argument("--memory", help="memory capacity per node, e.g. 8Gi (default: host memory)")
    p.add_argument("--state-dir", type=Path, default=Path("/var/lib/rayop-localnode"))
    p.add_argument("--restart-backoff", type=float, default=10.0, help="initial crash back-off seconds")
    p.add_argument("--taint", action="store_true", help="taint nodes rayop.io/local-node=true:NoSchedule")
    p.add_argument("--keep-nodes", action="store_true", help="do not delete the Node objects on exit")
    p.add_argument("--no-logs", action="store_true", help="do not serve container logs on :10250")
    p.add_argument("--lock-wait", type=float, default=0.0,
                   help="seconds to queue behind another agent on this machine (default: fail at once)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    return AgentConfig(
        kubeconfig=a.kubeconfig,
        nodes=a.nodes,
        node_prefix=a.node_prefix,
        cpu=a.cpu,
        memory=a.memory,
        state_dir=a.state_dir,
        backoff_initial=a.restart_backoff,
        taint=a.taint,
        keep_nodes=a.keep_nodes,
        serve_logs=not a.no_logs,
        lock_wait=a.lock_wait,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent = Agent(cfg)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        agent.start()
        print("local node agent ready", flush=True)
        done.wait()
    finally:
        agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
