"""``rayop cluster create|get|list|scale|suspend|resume|delete|logs`` (``kubectl ray`` verbs and flags)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from rayop.sdk import clusters
from rayop.sdk.client import RAYCLUSTERS
from rayop.sdk.progress import Progress
from rayop.sdk.spec import ClusterShape, build_spec, cluster_body
from rayop.usercli.common import connect, connection_flags, guarded, say
from rayop.usercli.output import CLUSTER_COLUMNS, cluster_row, key_values, render


def shape_flags(p: argparse.ArgumentParser) -> None:
    """kubectl ray create cluster's sizing flags (same names and defaults)."""
    p.add_argument("--ray-version", default="2.60.0")
    p.add_argument("--image", help="Ray image (default rayproject/ray:<ray-version>)")
    p.add_argument("--head-cpu", default="2")
    p.add_argument("--head-memory", default="4Gi")
    p.add_argument("--head-gpu", type=int, default=0)
    p.add_argument("--worker-replicas", type=int, default=1)
    p.add_argument("--worker-cpu", default="2")
    p.add_argument("--worker-memory", default="4Gi")
    p.add_argument("--worker-gpu", type=int, default=0)
    p.add_argument("--head-node-selectors", help="k=v,... for the head pod")
    p.add_argument("--worker-node-selectors", help="k=v,... for worker pods")
    p.add_argument("--head-ray-start-params", help="k=v,... added to ray start on the head")
    p.add_argument("--worker-ray-start-params", help="k=v,... added to ray start on workers")


def shape_from(args: argparse.Namespace) -> ClusterShape:
    return ClusterShape(
        workers=args.worker_replicas, cpus=args.worker_cpu, memory=args.worker_memory, gpus=args.worker_gpu,
        head_cpus=args.head_cpu, head_memory=args.head_memory, head_gpus=args.head_gpu,
        ray_version=args.ray_version, image=args.image,
        head_node_selector=key_values(args.head_node_selectors),
        worker_node_selector=key_values(args.worker_node_selectors),
        head_ray_start_params=key_values(args.head_ray_start_params),
        worker_ray_start_params=key_values(args.worker_ray_start_params))


def _create(args: argparse.Namespace) -> int:
    if args.file:
        body = yaml.safe_load(Path(args.file).read_text())
        if args.name:
            body.setdefault("metadata", {})["name"] = args.name
    elif args.name:
        body = cluster_body(args.name, build_spec(shape_from(args)), labels=key_values(args.labels))
    else:
        raise ValueError("give a cluster NAME or -f FILE")
    name = body["metadata"]["name"]
    if args.dry_run:
        print(json.dumps(body, indent=2) if args.output == "json" else yaml.safe_dump(body, sort_keys=False).rstrip())
        return 0
    client = connect(args)
    ns = client.ns(args.namespace or body["metadata"].get("namespace"))
    clusters.create_from(client, body, ns)
    say(f"Created RayCluster {ns}/{name}")
    if args.wait:
        with Progress(f"RayCluster {ns}/{name}") as p:
            clusters.wait_ready(client, name, ns, args.timeout, p)
        where = clusters.locate(client, name, ns)
        if where.client_address:
            say(f"Ray client:  {where.client_address}\nDashboard:   {where.dashboard_address}")
        else:
            say(where.why)
    return 0


def _get(args: argparse.Namespace) -> int:
    client = connect(args)
    if args.name:
        objs = [client.get(RAYCLUSTERS, args.name, args.namespace)]
    else:
        objs = list(client.list_all(RAYCLUSTERS, args.namespace, label_selector=args.selector,
                                    all_namespaces=args.all_namespaces))
    print(render(objs, args.output, CLUSTER_COLUMNS, cluster_row, single=bool(args.name)))
    return 0


def _scale(args: argparse.Namespace) -> int:
    client = connect(args)
    obj = clusters.scale(client, args.name, args.replicas, args.worker_group, args.namespace,
                         args.min_replicas, args.max_replicas)
    group = args.worker_group or (obj.spec.worker_group_specs or [])[0].group_name
    say(f"Scaled worker group {group} in RayCluster "
        f"{client.ns(args.namespace)}/{args.name} to {args.replicas} replicas")
    if args.wait:
        clusters.wait_workers(client, args.name, args.namespace, args.replicas, args.timeout)
        say(f"{args.replicas} workers ready")
    return 0


def _suspend(args: argparse.Namespace) -> int:
    client = connect(args)
    (clusters.suspend if args.verb == "suspend" else clusters.resume)(client, args.name, args.namespace)
    done = {"suspend": "suspended", "resume": "resumed"}[args.verb]
    say(f"RayCluster {client.ns(args.namespace)}/{args.name} {done}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    client = connect(args)
    clusters.delete(client, args.name, args.namespace, wait=args.wait)
    say(f"Deleted RayCluster {client.ns(args.namespace)}/{args.name}")
    return 0


def _logs(args: argparse.Namespace) -> int:
    client = connect(args)
    pods = clusters.pods_of(client, args.name, args.namespace)
    if args.node_type != "all":
        pods = [p for p in pods if (p["metadata"].get("labels") or {}).get("ray.io/node-type") == args.node_type]
    if not pods:
        raise ValueError(f"RayCluster {client.ns(args.namespace)}/{args.name} has no {args.node_type} pods")
    for pod in pods:
        pod_name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]["name"]
        text = client.pod_log(args.namespace, pod_name, container, args.tail)
        if args.out_dir:
            out = Path(args.out_dir) / f"{pod_name}.log"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            say(f"wrote {out}")
        else:
            sys.stdout.write(f"==> {pod_name} <==\n{text}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    conn = connection_flags()
    cluster = sub.add_parser("cluster", help="create, inspect, scale and delete RayClusters")
    verbs = cluster.add_subparsers(dest="verb", required=True)

    c = verbs.add_parser("create", parents=[conn], help="create a RayCluster (kubectl ray create cluster)")
    c.add_argument("name", nargs="?")
    c.add_argument("-f", "--file", help="a RayCluster manifest instead of the sizing flags")
    shape_flags(c)
    c.add_argument("--labels", help="k=v,... on the RayCluster")
    c.add_argument("--dry-run", action="store_true", help="print the manifest, create nothing")
    c.add_argument("--wait", action="store_true", help="wait until a Ray client can connect")
    c.add_argument("--timeout", type=float, default=300, help="seconds --wait waits")
    c.set_defaults(func=guarded(_create))

    for verb in ("get", "list"):
        g = verbs.add_parser(verb, parents=[conn], help="list RayClusters, or show one")
        g.add_argument("name", nargs="?")
        g.add_argument("-A", "--all-namespaces", action="store_true")
        g.add_argument("-l", "--selector", help="label selector")
        g.set_defaults(func=guarded(_get))

    s = verbs.add_parser("scale", parents=[conn], help="set a worker group's replicas (kubectl ray scale cluster)")
    s.add_argument("name")
    s.add_argument("-w", "--worker-group", help="worker group (default: the only one)")
    s.add_argument("-r", "--replicas", type=int, required=True)
    s.add_argument("--min-replicas", type=int)
    s.add_argument("--max-replicas", type=int)
    s.add_argument("--wait", action="store_true")
    s.add_argument("--timeout", type=float, default=300)
    s.set_defaults(func=guarded(_scale))

    for verb in ("suspend", "resume"):
        sr = verbs.add_parser(verb, parents=[conn], help=f"{verb} a RayCluster (spec.suspend)")
        sr.add_argument("name")
        sr.set_defaults(func=guarded(_suspend))

    d = verbs.add_parser("delete", parents=[conn], help="delete a RayCluster")
    d.add_argument("name")
    d.add_argument("--wait", action="store_true", help="until it is gone")
    d.set_defaults(func=guarded(_delete))

    lg = verbs.add_parser("logs", parents=[conn], help="the Ray containers' logs (kubectl ray log)")
    lg.add_argument("name")
    lg.add_argument("--node-type", choices=["all", "head", "worker"], default="all")
    lg.add_argument("--out-dir", help="write one file per pod instead of printing")
    lg.add_argument("--tail", type=int, help="last N lines of each pod")
    lg.set_defaults(func=guarded(_logs))
