"""The ``rayop gcs`` subcommand (registered by ``rayop.cli`` with two lines): ``rayop gcs gc``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from .address import parse_address, storage_namespace_of
from .gc import list_live, run_gc
from .store import RedisStore


def add_parser(sub: Any) -> argparse.ArgumentParser:
    gcs = sub.add_parser("gcs", help="GCS fault tolerance: Redis storage namespaces rayop gave out")
    gcs.add_argument("action", choices=["gc"], help="gc: list namespaces whose RayCluster is gone, then delete them")
    gcs.add_argument("--redis", required=True, help="Redis address: host:port, redis://... or rediss://...")
    gcs.add_argument("--redis-username", default=os.environ.get("REDIS_USERNAME"))
    gcs.add_argument("--redis-password-env", default="REDIS_PASSWORD",
                     help="environment variable holding the password (default REDIS_PASSWORD; never on argv)")
    gcs.add_argument("--redis-ca-file", help="PEM CA bundle that verifies a rediss:// server (default: the system's)")
    gcs.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    gcs.add_argument("--yes", action="store_true", help="delete without asking")
    return gcs


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(prompt).strip().lower() in ("y", "yes")


async def _gc(args: argparse.Namespace) -> int:
    from rayop.kube.client import KubeClient
    from rayop.kube.config import load_connection

    target = parse_address(args.redis, username=args.redis_username or None,
                           password=os.environ.get(args.redis_password_env) or None)
    client = KubeClient(load_connection(args.kubeconfig))
    try:
        live = await list_live(client, storage_namespace_of)
    finally:
        await client.close()
    await run_gc(RedisStore(target, ca_file=args.redis_ca_file), live, yes=args.yes, confirm=_confirm, out=sys.stdout)
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_gc(args))
