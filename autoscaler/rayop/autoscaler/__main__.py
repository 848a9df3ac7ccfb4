"""``rayop autoscaler --cluster-name N --cluster-namespace NS [--gcs-address host:port] [--period S]``.

Runs in the head pod's ``autoscaler`` sidecar: talks to the API server with the pod's service account and to the
head's GCS (default ``<this host's IP>:6379``, as ``ray kuberay-autoscaler`` does; the sidecar shares the head
pod's network).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys

from rayop.autoscaler.loop import LoopConfig, Metrics, run_forever
from rayop.autoscaler.settings import AutoscalerSettings
from rayop.autoscaler.supervisor import WORKER_FLAG, supervise, worker_command

log = logging.getLogger("rayop.autoscaler")


def default_gcs_address() -> str:
    try:
        ip = socket.gethostbyname(socket.gethostname())
    except OSError:
        ip = "127.0.0.1"
    return f"{ip}:6379"


def build_parser(settings: AutoscalerSettings | None = None) -> argparse.ArgumentParser:
    """Flags; their defaults come from :class:`AutoscalerSettings` (the ``RAYOP_AUTOSCALER_*`` environment)."""
    cfg = settings or AutoscalerSettings()
    p = argparse.ArgumentParser(prog="rayop autoscaler", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cluster-name", required=True, help="metadata.name of the RayCluster")
    p.add_argument("--cluster-namespace", required=True, help="metadata.namespace of the RayCluster")
    p.add_argument("--gcs-address", help="host:port of the GCS (default <pod IP>:6379)")
    p.add_argument("--period", type=float, default=cfg.period_seconds,
                   help="seconds between passes (default 5; env RAYOP_AUTOSCALER_PERIOD_SECONDS or "
                        "AUTOSCALER_UPDATE_INTERVAL_S)")
    p.add_argument("--kubeconfig", help="kubeconfig (default: the pod's service account)")
    p.add_argument("--metrics-port", type=int, default=cfg.metrics_port,
                   help="Prometheus port, 0: off (env RAYOP_AUTOSCALER_METRICS_PORT)")
    p.add_argument("--unschedulable-seconds", type=float, default=cfg.unschedulable_seconds,
                   help="give up on pods Unschedulable for longer than this "
                        "(env RAYOP_AUTOSCALER_UNSCHEDULABLE_SECONDS)")
    p.add_argument("--block-seconds", type=float, default=cfg.block_seconds,
                   help="skip a group for this long after its pods were unschedulable "
                        "(env RAYOP_AUTOSCALER_BLOCK_SECONDS)")
    p.add_argument("--gcs-wait-seconds", type=float, default=cfg.gcs_wait_seconds,
                   help="how long to wait for GCS at start (default 0: forever, like ray kuberay-autoscaler; "
                        "exiting would leave a restartPolicy Never head pod unready for good)")
    p.add_argument("--once", action="store_true", help="run a single pass and exit")
    p.add_argument(WORKER_FLAG, action="store_true",
                   help="run the loop in this process (default: supervise a child process that runs it and "
                        "restart it if it dies; see rayop.autoscaler.supervisor)")
    return p


async def _run(args: argparse.Namespace, settings: AutoscalerSettings) -> int:
    from rayop.autoscaler.kube_io import KubeIO
    from rayop.autoscaler.loop import run_once
    from rayop.autoscaler.ray_gcs import RayGcs, wait_for_gcs
    from rayop.kube.client import KubeClient
    from rayop.kube.config import load_connection

    address = args.gcs_address or default_gcs_address()
    log.info("waiting for GCS at %s", address)
    if not await asyncio.to_thread(wait_for_gcs, address, args.gcs_wait_seconds):
        log.error("GCS at %s did not answer within %.0fs", address, args.gcs_wait_seconds)
        return 1
    log.info("GCS at %s answers", address)
    head_pod = settings.head_pod_name
    gcs = RayGcs(address, head_pod_name=head_pod)
    client = KubeClient(load_connection(args.kubeconfig), field_manager="rayop-autoscaler")
    kube = KubeIO(client, args.cluster_name, args.cluster_namespace, instance=head_pod or "")
    config = LoopConfig(period_s=args.period, unschedulable_bound_s=args.unschedulable_seconds,
                        block_s=args.block_seconds)
    metrics = Metrics(args.metrics_port)
    try:
        if args.once:
            await run_once(kube, gcs, config, metrics)
        else:
            await run_forever(kube, gcs, config, metrics)
    finally:
        await client.close()
    return 0


def main(argv: list[str]) -> int:
    """Entry point used by ``rayop autoscaler``."""
    settings = AutoscalerSettings()
    args = build_parser(settings).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.worker and not args.once:
        return supervise(worker_command(argv))
    try:
        return asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
