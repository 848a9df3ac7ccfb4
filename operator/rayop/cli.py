"""The ``rayop`` command: run the operator or the autoscaler, manage the local dev cluster, generate CRDs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _operator(args: argparse.Namespace) -> int:
    from rayop.operator.main import run
    from rayop.operator.settings import load_settings

    settings = load_settings(
        kubeconfig=args.kubeconfig,
        namespaces=args.namespace or None,
        max_concurrent_reconciles=args.concurrency,
        log_format=args.log_format,
        log_level=args.log_level,
        health_port=args.health_port,
        metrics_port=args.metrics_port,
        autoscaler_image=args.autoscaler_image,
        leader_election={"enabled": False} if args.no_leader_election else None,
    )
    run(settings)
    return 0


def _crds(args: argparse.Namespace) -> int:
    from rayop.crdgen import generate

    if args.action == "generate":
        for path in generate.generate():
            print(f"wrote {path}")
        return 0
    if args.action == "snapshot-k8s":
        from rayop.crdgen.snapshot import write_snapshot

        path = write_snapshot(args.kubeconfig)
        print(f"wrote {path}")
        return 0
    problems = generate.check()
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print("CRDs are up to date with the models")
    return 0


def _dev(args: argparse.Namespace) -> int:
    from rayop.local import devenv

    workdir = Path(args.workdir).expanduser() if args.workdir else devenv.default_workdir()
    if args.action == "up":
        return devenv.up(workdir, local_nodes=args.local_nodes, kwok=not args.no_kwok,
                         operator=not args.no_operator)
    if args.action == "down":
        return devenv.down(workdir)
    if args.action == "status":
        return devenv.status(workdir)
    if args.action == "tools":
        from rayop.local.controlplane.tools import ensure_tools

        print(ensure_tools())
        return 0
    if args.action == "serve":
        return devenv.serve(workdir, local_nodes=args.local_nodes, kwok=not args.no_kwok,
                            operator=not args.no_operator)
    raise AssertionError(args.action)


def _autoscaler(args: argparse.Namespace) -> int:
    from rayop.autoscaler.__main__ import main as autoscaler_main

    return autoscaler_main(args.rest)


def _gcs(args: argparse.Namespace) -> int:
    from rayop.gcs_ha.cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rayop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    op = sub.add_parser("operator", help="run the operator (today: RayCluster)")
    op.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster, then $KUBECONFIG)")
    op.add_argument("--namespace", "-n", action="append", help="watch only this namespace (repeatable)")
    op.add_argument("--concurrency", type=int, help="objects reconciled at the same time")
    op.add_argument("--log-format", choices=["json", "plain"])
    op.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    op.add_argument("--health-port", type=int, help="liveness endpoint port (0: off)")
    op.add_argument("--metrics-port", type=int, help="metrics endpoint port (0: off)")
    op.add_argument("--autoscaler-image", help="an image that holds rayop: autoscaler sidecars run rayop's "
                    "autoscaler from it (default: Ray's own autoscaler in the head image, as KubeRay)")
    op.add_argument("--no-leader-election", action="store_true",
                    help="act without holding the leader Lease (only when a single process can ever run)")
    op.set_defaults(func=_operator)

    crds = sub.add_parser("crds", help="generate or check the CRDs from the pydantic models")
    crds.add_argument("action", choices=["generate", "check", "snapshot-k8s"])
    crds.add_argument("--kubeconfig", help="for snapshot-k8s: API server of the pinned release")
    crds.set_defaults(func=_crds)

    dev = sub.add_parser("dev", help="the local control plane (etcd, apiserver, scheduler, kwok, local nodes)")
    dev.add_argument("action", choices=["up", "down", "status", "tools", "serve"])
    dev.add_argument("--workdir", help="state directory (default ~/.cache/rayop/dev)")
    dev.add_argument("--local-nodes", type=int, default=0, help="local nodes that really run pods")
    dev.add_argument("--no-kwok", action="store_true", help="no kwok fake nodes")
    dev.add_argument("--no-operator", action="store_true", help="do not start the operator")
    dev.set_defaults(func=_dev)

    auto = sub.add_parser("autoscaler", help="the autoscaler sidecar (runs in the Ray head pod)")
    auto.add_argument("rest", nargs=argparse.REMAINDER)
    auto.set_defaults(func=_autoscaler)

    from rayop.usercli import api, cluster, job, service, session  # user commands: one register line each

    cluster.register(sub)
    job.register(sub)
    service.register(sub)
    session.register(sub)
    api.register(sub)

    from rayop.gcs_ha.cli import add_parser as add_gcs_parser

    add_gcs_parser(sub).set_defaults(func=_gcs)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["autoscaler"]:
        # argparse.REMAINDER in a subparser refuses a remainder that starts with an option ("--cluster-name"),
        # so the autoscaler's own parser gets its arguments directly.
        return _autoscaler(argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
