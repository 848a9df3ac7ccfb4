"""``python -m benchmarks.run``: run one scenario against one or more peers and write the table, JSON and plot.

    python -m benchmarks.run --scenario burst --operator rayop,kuberay,kuberay-c10,ceiling --out results/
    python -m benchmarks.run --scenario burst --clusters 50 --operator rayop --operator kuberay
    python -m benchmarks.run --report results/20260101-120000-burst      # redo table/plot of a finished run

Each peer gets a fresh local control plane. Results go to ``<out>/<UTC time>-<scenario>/``: one JSON per peer
(machine, versions, parameters, every figure, time series), ``summary.json`` (figures and ratios), ``table.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from dataclasses import fields
from pathlib import Path

from benchmarks.rayop_bench import report
from benchmarks.rayop_bench.harness import run_one
from benchmarks.rayop_bench.operators import OPERATORS
from benchmarks.rayop_bench.scenarios import SCENARIOS, Params


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=SCENARIOS, default="smoke")
    ap.add_argument("--operator", action="append", default=None,
                    help=f"peer(s), repeatable or comma-separated: {', '.join(OPERATORS)} (default: all; "
                         "rayop,kuberay for the rayjob and rayservice scenarios)")
    ap.add_argument("--out", type=Path, default=Path("results"))
    ap.add_argument("--report", type=Path, metavar="DIR", help="only rewrite table/plot of a finished run")
    ap.add_argument("--keep-going", action="store_true", help="run the remaining peers if one fails")
    defaults = Params()
    for f in fields(Params):
        kind = type(getattr(defaults, f.name))
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=_yes_no if kind is bool else kind, default=None,
                        help=f"default {getattr(defaults, f.name)} ({getattr(Params.smoke(), f.name)} for smoke)")
    return ap.parse_args(argv)


def _yes_no(text: str) -> bool:
    """``--kwok-per-node no``: argparse's ``bool`` would read any non-empty word as true."""
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


def params_from(args: argparse.Namespace) -> Params:
    params = Params.smoke() if args.scenario == "smoke" else Params()
    for f in fields(Params):
        value = getattr(args, f.name)
        if value is not None:
            setattr(params, f.name, value)
    return params


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = "python -m benchmarks.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.report:
        scenario, records = report.load(args.report)
        print(report.write(args.report, scenario, records, command))
        return 0
    default = "rayop,kuberay" if args.scenario.startswith(("rayjob", "rayservice")) else ",".join(OPERATORS)
    if args.scenario == "rayservice-restarts":
        default = "rayop"  # it kills and restarts the operator's process
    peers = [p for item in (args.operator or [default]) for p in item.split(",") if p]
    unknown = [p for p in peers if p not in OPERATORS]
    if unknown:
        print(f"unknown operator(s) {unknown}; choose from {OPERATORS}", file=sys.stderr)
        return 2
    params = params_from(args)
    outdir = args.out / f"{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}-{args.scenario}"
    records = {}
    failed = False
    for peer in peers:
        print(f"=== {args.scenario} x {peer} ===", file=sys.stderr, flush=True)
        try:
            records[peer] = run_one(args.scenario, peer, params, outdir)
        except Exception as exc:
            failed = True
            print(f"{peer} failed: {exc}", file=sys.stderr)
            records[peer] = report.load(outdir)[1].get(peer, {"status": f"failed: {exc}", "operator": peer})
            if not args.keep_going:
                break
    ok = {p: r for p, r in records.items() if "machine" in r}
    if ok:
        print(report.write(outdir, args.scenario, ok, command))
    print(f"results in {outdir}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
