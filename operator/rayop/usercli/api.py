"""``rayop api``: serve the REST API (rayop.restapi) with uvicorn, locally or as the chart's Deployment."""

from __future__ import annotations

import argparse

from rayop.usercli.common import guarded


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from rayop.restapi.app import create_app
    from rayop.sdk.client import Client

    client = Client.connect(kubeconfig=args.kubeconfig, context=args.context)
    uvicorn.run(create_app(client), host=args.host, port=args.port, log_level=args.log_level,
                ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("api", help="serve the REST API (Kubernetes-shaped paths, bearer-token auth, /docs)")
    p.add_argument("--kubeconfig", help="kubeconfig of the API's own identity (default: in-cluster)")
    p.add_argument("--context")
    p.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0 in a pod)")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate (tokens travel in headers)")
    p.add_argument("--tls-key")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=guarded(_api))
