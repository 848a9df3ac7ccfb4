"""What every user subcommand shares: kubectl-like connection flags, -o, and turning SDK errors into exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rayop.sdk import errors
from rayop.sdk.client import Client


def connection_flags() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    p.add_argument("-o", "--output", choices=["json", "yaml"], help="print objects as json or yaml")
    return p


def connect(args: argparse.Namespace) -> Client:
    return Client.connect(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)


def guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command; an SDK error prints its message (the API server's) and exits 1, never a traceback."""
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except errors.RayopError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
    return run


def say(*parts: Any) -> None:
    print(*parts, flush=True)
