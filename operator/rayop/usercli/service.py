"""``rayop service status NAME``: a RayService's status (serve status, conditions, active/pending clusters, apps)."""

from __future__ import annotations

import argparse
import json

import yaml

from rayop.sdk import services
from rayop.usercli.common import connect, connection_flags, guarded


def _status(args: argparse.Namespace) -> int:
    status = services.get(connect(args), args.name, args.namespace)
    if args.output == "json":
        print(json.dumps(status.to_dict(), indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(status.to_dict(), sort_keys=False).rstrip())
    else:
        print("\n".join(services.lines(status)))
    return 0 if status.ready else 3


def register(sub: argparse._SubParsersAction) -> None:
    svc = sub.add_parser("service", help="RayService status")
    verbs = svc.add_subparsers(dest="verb", required=True)
    st = verbs.add_parser("status", parents=[connection_flags()], help="status of a RayService (exit 3: not ready)")
    st.add_argument("name")
    st.set_defaults(func=guarded(_status))
