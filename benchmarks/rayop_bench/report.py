"""Markdown table, summary JSON (every figure plus ratios) and a plot of ready pods over time per peer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: API work and control-plane trouble during the scenario: writes (and LISTs) the API server served, pod watches it
#: closed as too slow, and kwok stage plays it rejected (duplicates after such a relist).
HARNESS_HEALTH = [("api_writes", "API writes during the scenario"),
                  ("terminated_pod_watches", "pod watches closed as too slow"),
                  ("kwok_rejected_plays", "kwok plays rejected (whole run)")]

#: The figures each scenario's table shows, in order, with a label (lower is better unless marked ↑).
HEADLINES: dict[str, list[tuple[str, str]]] = {
    "burst": [("create_s", "create all RayClusters (s)"), ("ready_s", "all clusters ready (s)"),
              ("pods_created_s", "all pods created (s)"), ("pods_created_per_s", "pods created/s ↑"),
              ("pods_ready_s", "all pods Ready (s)"), ("pods_per_s", "pods Ready/s ↑"),
              ("cluster_ready_p50_s", "cluster ready p50 (s)"), ("cluster_ready_p99_s", "cluster ready p99 (s)"),
              ("operator_cpu_s", "operator CPU (s)"), ("peak_rss_mib", "operator peak RSS (MiB)"),
              ("apiserver_cpu_s", "kube-apiserver CPU (s)"), *HARNESS_HEALTH],
    "fairness": [("small_latency_s", "second cluster 0→1 latency (s)"), ("big_ready_s", "big cluster ready (s)"),
                 ("big_pods_per_s", "big cluster pods/s ↑"), ("operator_cpu_s", "operator CPU (s)"),
                 ("peak_rss_mib", "operator peak RSS (MiB)"), *HARNESS_HEALTH],
    "steady": [("pods", "managed pods"), ("rss_mib", "operator RSS at end of idle (MiB)"),
               ("rss_mean_mib", "operator RSS mean (MiB)"), ("operator_cpu_s_per_min", "operator CPU s/min idle"),
               ("apiserver_cpu_s_per_min", "kube-apiserver CPU s/min idle"), ("setup_s", "setup: all ready (s)"),
               ("peak_rss_mib", "operator peak RSS (MiB)")],
    "churn": [("changes", "spec changes"), ("latency_p50_s", "latency p50 (s)"), ("latency_p99_s", "latency p99 (s)"),
              ("up_p50_s", "scale-up p50 (s)"), ("down_p50_s", "scale-down p50 (s)"),
              ("churn_total_s", "whole churn (s)"), ("churn_operator_cpu_s", "operator CPU (s)"),
              ("peak_rss_mib", "operator peak RSS (MiB)"), *HARNESS_HEALTH],
    "rayjob": [("succeeded", "runs SUCCEEDED ↑"), ("succeeded_p50_s", "apply → SUCCEEDED, median (s)"),
               ("succeeded_min_s", "apply → SUCCEEDED, fastest (s)"),
               ("succeeded_max_s", "apply → SUCCEEDED, slowest (s)"),
               ("deployment_running_p50_s", "apply → jobDeploymentStatus Running, median (s)"),
               ("job_running_p50_s", "apply → jobStatus RUNNING, median (s)"),
               ("complete_p50_s", "apply → jobDeploymentStatus Complete, median (s)"),
               ("teardown_p50_s", "Complete → local node idle again, median (s)"),
               ("operator_cpu_s", "operator CPU, all runs (s)"), ("peak_rss_mib", "operator peak RSS (MiB)")],
    "rayjob-load": [("alone_latency_p50_s", "scale 1↔4 alone: p50 (s)"),
                    ("alone_latency_p99_s", "scale 1↔4 alone: p99 (s)"),
                    ("jobs_latency_p50_s", "scale 1↔4 next to the jobs: p50 (s)"),
                    ("jobs_latency_p99_s", "scale 1↔4 next to the jobs: p99 (s)"),
                    ("jobs_over_alone_latency_p50_s", "with jobs ÷ alone, p50"),
                    ("jobs_over_alone_latency_p99_s", "with jobs ÷ alone, p99"),
                    ("alone_churn_operator_cpu_s", "operator CPU during the cycles alone (s)"),
                    ("jobs_churn_operator_cpu_s", "operator CPU during the cycles next to the jobs (s)"),
                    ("alone_idle_operator_cpu_s_per_min", "operator CPU idle, 1 cluster (s/min)"),
                    ("jobs_idle_operator_cpu_s_per_min", "operator CPU idle, with the jobs (s/min)"),
                    ("jobs_running_s", "all jobs Running after create (s)"),
                    ("jobs_setup_operator_cpu_s", "operator CPU until all jobs Running (s)"),
                    ("peak_rss_mib", "operator peak RSS (MiB)"), *HARNESS_HEALTH],
    "rayservice": [("requests", "requests during the upgrade ↑"), ("failed", "failed requests"),
                   ("p50_ms", "latency p50 (ms)"), ("p99_ms", "latency p99 (ms)"), ("max_ms", "latency max (ms)"),
                   ("pending_created_s", "change → new cluster created (s)"),
                   ("switch_s", "change → serve Service switched (s)"),
                   ("last_old_s", "change → last old-version answer (s)"),
                   ("new_only_s", "change → new version only (s)"),
                   ("old_gone_s", "change → old cluster gone: upgrade duration (s)"),
                   ("max_clusters", "RayClusters at once, at most"), ("ready_s", "apply → first answer (s)"),
                   ("upgrade_operator_cpu_s", "operator CPU during the upgrade (s)"),
                   ("peak_rss_mib", "operator peak RSS (MiB)"), ("api_writes", "API writes during the scenario")],
    "rayservice-restarts": [
        ("steps_ok", "rollouts that passed every check (of 4) ↑"),
        *[(f"{k}_{f}", f"killed {k.replace('_', ' ')}: {label}") for k in
          ("before_pending_create", "after_pending_create", "after_config_apply", "after_switch")
          for f, label in (("ok", "ok"), ("hit", "kill hit the step"), ("done_s", "rollout done after change (s)"),
                           ("max_clusters", "RayClusters at once"))]],
    "gcs-ft": [("kills", "head pod deletions"), ("counter_kept", "actor kept its state ↑"),
               ("workers_kept", "worker pods kept ↑"), ("serve_answered", "Serve answered after ↑"),
               ("head_ready_p50_s", "delete → new head Ready, median (s)"),
               ("head_ready_max_s", "delete → new head Ready, max (s)"),
               ("actor_p50_s", "delete → actor answers, median (s)"),
               ("actor_max_s", "delete → actor answers, max (s)"),
               ("peak_rss_mib", "operator peak RSS (MiB)")],
    "rayservice-gcs-ft": [("kills", "head pod deletions"), ("requests", "requests under load ↑"),
                          ("failed", "failed requests"), ("p50_ms", "latency p50 (ms)"), ("p99_ms", "latency p99 (ms)"),
                          ("head_ready_p50_s", "delete → new head Ready, median (s)"),
                          ("head_ready_max_s", "delete → new head Ready, max (s)"),
                          ("same_cluster", "kills with no new RayCluster ↑"), ("workers_kept", "worker pods kept ↑"),
                          ("max_clusters", "RayClusters at once, at most"),
                          ("peak_rss_mib", "operator peak RSS (MiB)")],
    "smoke": [("ready_s", "all clusters ready (s)"), ("pods_per_s", "pods/s ↑"), ("latency_p50_s", "churn p50 (s)"),
              ("latency_p99_s", "churn p99 (s)"), ("operator_cpu_s", "operator CPU (s)"),
              ("peak_rss_mib", "operator peak RSS (MiB)")],
}
ORDER = ("rayop", "kuberay", "kuberay-c10", "ceiling")
RATIO_PEERS = ("kuberay", "kuberay-c10", "ceiling")


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def ratios(scenario: str, records: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """rayop's figure divided by each peer's, for every headline figure both have."""
    out: dict[str, dict[str, float | None]] = {}
    mine = records.get("rayop", {}).get("figures") or {}
    for peer in RATIO_PEERS:
        theirs = records.get(peer, {}).get("figures") or {}
        if not theirs or not mine:
            continue
        out[f"rayop/{peer}"] = {
            key: (round(mine[key] / theirs[key], 2)
                  if isinstance(mine.get(key), int | float) and isinstance(theirs.get(key), int | float)
                  and theirs[key] else None)
            for key, _ in HEADLINES[scenario]
        }
    return out


def table(scenario: str, records: dict[str, dict[str, Any]]) -> str:
    peers = [p for p in ORDER if p in records] + [p for p in records if p not in ORDER]
    rat = ratios(scenario, records)
    header = ["figure", *peers, *rat]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, label in HEADLINES[scenario]:
        row = [label] + [_fmt((records[p].get("figures") or {}).get(key)) for p in peers]
        row += [_fmt(rat[r].get(key)) for r in rat]
        lines.append("| " + " | ".join(row) + " |")
    failed = [f"{p}: {records[p].get('status')}" for p in peers if records[p].get("status") != "ok"]
    if failed:
        lines.append("")
        lines += [f"- **{f}**" for f in failed]
    return "\n".join(lines)


def context_lines(records: dict[str, dict[str, Any]]) -> list[str]:
    any_rec = next(iter(records.values()))
    m, v = any_rec["machine"], any_rec["versions"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, kernel {m['kernel']}, "
             f"Python {m['python']}",
             f"versions: rayop {v['rayop']}, KubeRay {v['kuberay']}, Kubernetes {v['kubernetes']}, kopf {v['kopf']}"]
    for name, rec in records.items():
        lb, la = rec.get("loadavg_before") or [0], rec.get("loadavg_after") or [0]
        lines.append(f"{name}: started {rec.get('started')}, load average {lb[0]:.1f} → {la[0]:.1f}, "
                     f"flags {rec.get('operator_flags') or 'defaults'}, runs on {rec.get('operator_where', 'host')}")
    return lines


def plot(scenario: str, records: dict[str, dict[str, Any]], path: Path) -> str:
    """ready_pods.png if matplotlib is importable; otherwise a note (the series are in the JSON files)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("plot skipped: matplotlib is not installed (it is not part of ray[default]); "
                "`pip install matplotlib` and rerun `python -m benchmarks.run --report DIR` to draw it")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, rec in records.items():
        series = (rec.get("series") or {}).get("ready_pods") or []
        if series:
            ax.step([t for t, _ in series], [n for _, n in series], where="post", label=name)
    ax.set_xlabel("seconds since the scenario's first request")
    ax.set_ylabel("Ready Ray pods")
    ax.set_title(f"{scenario}: Ready pods over time")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot: {path.name}"


def write(outdir: Path, scenario: str, records: dict[str, dict[str, Any]], command: str) -> str:
    """Write table.md and summary.json (and the plot) into ``outdir``; returns the markdown."""
    note = plot(scenario, records, outdir / "ready_pods.png")
    md = "\n".join([f"### {scenario}", "", f"`{command}`", "", table(scenario, records), "",
                    *[f"- {line}" for line in context_lines(records)], f"- {note}", ""])
    (outdir / "table.md").write_text(md)
    summary = {"scenario": scenario, "command": command, "ratios": ratios(scenario, records),
               "figures": {p: r.get("figures") for p, r in records.items()},
               "status": {p: r.get("status") for p, r in records.items()}}
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1))
    return md


def load(outdir: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """Re-read the per-peer JSON files of a finished run."""
    records = {}
    for path in sorted(outdir.glob("*.json")):
        if path.name != "summary.json":
            rec = json.loads(path.read_text())
            records[rec["operator"]] = rec
    if not records:
        raise FileNotFoundError(f"no run records in {outdir}")
    return next(iter(records.values()))["scenario"], records
