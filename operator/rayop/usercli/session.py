"""``rayop session NAME``: the addresses of a cluster's dashboard and Ray client, as reachable from here."""

from __future__ import annotations

import argparse
import json
import webbrowser

from rayop.sdk import clusters
from rayop.usercli.common import connect, connection_flags, guarded


def _session(args: argparse.Namespace) -> int:
    client = connect(args)
    where = clusters.locate(client, args.name, args.namespace)
    if args.output:
        print(json.dumps({"clientAddress": where.client_address, "dashboardAddress": where.dashboard_address,
                          "via": where.via, "why": where.why or None}, indent=2))
        return 0 if where.client_address else 1
    if where.client_address is None:
        print(where.why)
        return 1
    print(f"Ray client:  {where.client_address}   (ray.init(\"{where.client_address}\"))\n"
          f"Dashboard:   {where.dashboard_address}\nReached via: {where.via}")
    if args.open:
        webbrowser.open(str(where.dashboard_address))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("session", parents=[connection_flags()],
                       help="print (or --open) a RayCluster's dashboard and client addresses")
    s.add_argument("name")
    s.add_argument("--open", action="store_true", help="open the dashboard in a browser")
    s.set_defaults(func=guarded(_session))
