"""``rayop job submit|status|logs|stop|list``: RayJobs for people and CI (exit code = the job's verdict).

``job submit --working-dir DIR -- python train.py`` works like ``kubectl ray job submit``: an InteractiveMode RayJob,
the directory uploaded by Ray's own job client once the cluster is up, then the logs followed to the verdict.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import sys
from pathlib import Path

import yaml

from rayop.api.raycluster import RayClusterSpec
from rayop.sdk import jobs
from rayop.sdk.client import RAYJOBS
from rayop.sdk.progress import Progress
from rayop.sdk.spec import build_spec
from rayop.usercli.cluster import shape_flags, shape_from
from rayop.usercli.common import connect, connection_flags, guarded, say
from rayop.usercli.output import JOB_COLUMNS, job_row, render


def _runtime_env(args: argparse.Namespace) -> dict[str, object]:
    env: dict[str, object] = {}
    if args.runtime_env:
        env.update(yaml.safe_load(Path(args.runtime_env).read_text()) or {})
    if args.runtime_env_json:
        env.update(json.loads(args.runtime_env_json))
    return env


def _submit_options(args: argparse.Namespace) -> dict[str, object]:
    """kubectl ray job submit's entrypoint flags, as Ray's submit_job arguments."""
    out: dict[str, object] = {}
    if args.entrypoint_num_cpus:
        out["entrypoint_num_cpus"] = args.entrypoint_num_cpus
    if args.entrypoint_num_gpus:
        out["entrypoint_num_gpus"] = args.entrypoint_num_gpus
    if args.entrypoint_memory:
        out["entrypoint_memory"] = args.entrypoint_memory
    if args.entrypoint_resources:
        out["entrypoint_resources"] = json.loads(args.entrypoint_resources)
    if args.metadata_json:
        out["metadata"] = json.loads(args.metadata_json)
    return out


def _submit(args: argparse.Namespace) -> int:
    entry = list(args.entrypoint)
    if entry[:1] == ["--"]:
        entry = entry[1:]
    if not entry:
        raise ValueError("give the entrypoint after --, e.g. rayop job submit --working-dir . -- python train.py")
    entrypoint = shlex.join(entry)
    client = None if args.dry_run else connect(args)
    ns = client.ns(args.namespace) if client else (args.namespace or "default")
    spec: RayClusterSpec | None = None
    if args.file:
        body = yaml.safe_load(Path(args.file).read_text())
        spec = RayClusterSpec.model_validate((body.get("spec") or {}).get("rayClusterSpec"))
        name = args.name or body["metadata"]["name"]
    else:
        name = args.name or f"rayjob-{secrets.token_hex(3)}"
        if not args.cluster:
            spec = build_spec(shape_from(args))
    working_dir = str(Path(args.working_dir).resolve()) if args.working_dir else None
    if args.dry_run:
        body = jobs.job_body(name, entrypoint, cluster=spec, cluster_name=args.cluster if spec is None else None,
                             interactive=True, shutdown_after_job_finishes=not args.keep_cluster,
                             ttl_seconds_after_finished=args.ttl_seconds_after_finished, namespace=ns)
        print(json.dumps(body, indent=2) if args.output == "json" else yaml.safe_dump(body, sort_keys=False).rstrip())
        return 0
    assert client is not None
    with Progress(f"RayJob {ns}/{name}") as p:
        jobs.submit(client, name, entrypoint, namespace=ns, cluster=spec,
                    cluster_name=args.cluster if spec is None else None, working_dir=working_dir,
                    runtime_env=_runtime_env(args), shutdown_after_job_finishes=not args.keep_cluster,
                    ttl_seconds_after_finished=args.ttl_seconds_after_finished, timeout=args.timeout,
                    interactive=True, submission_id=args.submission_id, submit_options=_submit_options(args),
                    progress=p)
    say(f"Submitted RayJob {ns}/{name}")
    if args.no_wait:
        return 0
    with Progress(f"RayJob {ns}/{name}", quiet=True) as p:
        verdict = jobs.follow(client, name, ns, on_output=_write, progress=p)
    return _report(verdict)


def _write(chunk: str) -> None:
    sys.stdout.write(chunk)
    sys.stdout.flush()


def _report(verdict: jobs.Verdict) -> int:
    line = f"RayJob {verdict.job.namespace}/{verdict.job.name}: {verdict.job_status or 'no job status'}"
    if not verdict.ok and verdict.message:
        line += f" - {verdict.message}"
    print(line, file=sys.stderr if not verdict.ok else sys.stdout, flush=True)
    return verdict.exit_code


def _status(args: argparse.Namespace) -> int:
    client = connect(args)
    obj = client.get(RAYJOBS, args.name, args.namespace)
    if args.output:
        print(render([obj], args.output, JOB_COLUMNS, job_row, single=True))
    else:
        st = obj.get("status") or {}
        print(render([obj], None, JOB_COLUMNS, job_row))
        for key in ("reason", "message", "dashboardURL", "startTime", "endTime"):
            if st.get(key):
                print(f"{key}: {st[key]}")
    return 0


def _logs(args: argparse.Namespace) -> int:
    client = connect(args)
    if args.follow:
        return _report(jobs.follow(client, args.name, args.namespace, on_output=_write))
    _write(jobs.logs(client, args.name, args.namespace))
    return 0


def _stop(args: argparse.Namespace) -> int:
    client = connect(args)
    jobs.stop(client, args.name, args.namespace)
    say(f"Stop requested for RayJob {client.ns(args.namespace)}/{args.name}")
    return 0


def _list(args: argparse.Namespace) -> int:
    client = connect(args)
    objs = list(client.list_all(RAYJOBS, args.namespace, label_selector=args.selector,
                                all_namespaces=args.all_namespaces))
    print(render(objs, args.output, JOB_COLUMNS, job_row))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    conn = connection_flags()
    job = sub.add_parser("job", help="submit RayJobs and follow them to their verdict")
    verbs = job.add_subparsers(dest="verb", required=True)

    s = verbs.add_parser("submit", parents=[conn], help="submit a RayJob and follow it (exit 0 iff SUCCEEDED)")
    s.add_argument("--name", help="RayJob name (default rayjob-<random>)")
    s.add_argument("-f", "--filename", dest="file", help="a RayJob manifest whose rayClusterSpec is used")
    s.add_argument("--cluster", help="run on this existing RayCluster (clusterSelector) instead of a new one")
    s.add_argument("--working-dir", help="local directory shipped to the job (Ray's working_dir)")
    s.add_argument("--runtime-env", help="runtime_env YAML file")
    s.add_argument("--runtime-env-json", help="runtime_env as JSON")
    s.add_argument("--keep-cluster", action="store_true", help="do not delete the job's cluster when it finishes")
    s.add_argument("--ttl-seconds-after-finished", type=int, default=10)
    s.add_argument("--no-wait", action="store_true", help="submit and return")
    s.add_argument("--submission-id", help="Ray job submission id (default <name>-<random>)")
    s.add_argument("--entrypoint-num-cpus", type=float)
    s.add_argument("--entrypoint-num-gpus", type=float)
    s.add_argument("--entrypoint-memory", type=int)
    s.add_argument("--entrypoint-resources", help="JSON dict of resource name to quantity")
    s.add_argument("--metadata-json", help="JSON dict of metadata attached to the Ray job")
    s.add_argument("--dry-run", action="store_true", help="print the RayJob, create nothing")
    s.add_argument("--timeout", type=float, default=600, help="seconds to wait for the cluster")
    shape_flags(s)
    s.add_argument("entrypoint", nargs=argparse.REMAINDER, help="-- COMMAND...")
    s.set_defaults(func=guarded(_submit))

    st = verbs.add_parser("status", parents=[conn], help="a RayJob's status")
    st.add_argument("name")
    st.set_defaults(func=guarded(_status))

    lg = verbs.add_parser("logs", parents=[conn], help="the job's driver output")
    lg.add_argument("name")
    lg.add_argument("-f", "--follow", action="store_true", help="until the verdict (exit code as submit)")
    lg.set_defaults(func=guarded(_logs))

    sp = verbs.add_parser("stop", parents=[conn], help="stop the Ray job")
    sp.add_argument("name")
    sp.set_defaults(func=guarded(_stop))

    ls = verbs.add_parser("list", parents=[conn], help="list RayJobs")
    ls.add_argument("-A", "--all-namespaces", action="store_true")
    ls.add_argument("-l", "--selector", help="label selector")
    ls.set_defaults(func=guarded(_list))
