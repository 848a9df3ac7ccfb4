"""Printing objects for people (tables) and scripts (``-o json|yaml``). Pure: returns text."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

import yaml

Row = dict[str, Any]


def age(created: str | None, now: dt.datetime | None = None) -> str:
    """kubectl-style age: 45s, 12m, 3h, 2d."""
    if not created:
        return "<unknown>"
    now = now or dt.datetime.now(dt.UTC)
    then = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    s = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """Left-aligned columns separated by three spaces, like kubectl get."""
    cells = [[str(c) for c in columns]] + [["" if r.get(c) is None else str(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("   ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def render(objects: Sequence[dict[str, Any]], fmt: str | None, columns: Sequence[str],
           to_row: Callable[[dict[str, Any]], Row], single: bool = False) -> str:
    """json/yaml of the objects themselves (one object, or a kind: List), else a table of ``to_row``."""
    if fmt in ("json", "yaml"):
        data: Any = objects[0] if single and len(objects) == 1 else \
            {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        return json.dumps(data, indent=2) if fmt == "json" else yaml.safe_dump(data, sort_keys=False).rstrip()
    if not objects:
        return "No resources found."
    return table([to_row(o) for o in objects], columns)


CLUSTER_COLUMNS = ("NAME", "NAMESPACE", "DESIRED WORKERS", "AVAILABLE WORKERS", "CPUS", "GPUS", "MEMORY", "STATUS",
                   "AGE")


def cluster_row(obj: dict[str, Any]) -> Row:
    meta, st = obj.get("metadata") or {}, obj.get("status") or {}
    return {"NAME": meta.get("name"), "NAMESPACE": meta.get("namespace"),
            "DESIRED WORKERS": st.get("desiredWorkerReplicas", 0),
            "AVAILABLE WORKERS": st.get("availableWorkerReplicas", 0),
            "CPUS": st.get("desiredCPU", 0), "GPUS": st.get("desiredGPU", 0), "MEMORY": st.get("desiredMemory", 0),
            "STATUS": st.get("state") or ("suspended" if (obj.get("spec") or {}).get("suspend") else "pending"),
            "AGE": age(meta.get("creationTimestamp"))}


JOB_COLUMNS = ("NAME", "NAMESPACE", "JOB STATUS", "DEPLOYMENT STATUS", "RAY CLUSTER", "JOB ID", "AGE")


def job_row(obj: dict[str, Any]) -> Row:
    meta, st = obj.get("metadata") or {}, obj.get("status") or {}
    return {"NAME": meta.get("name"), "NAMESPACE": meta.get("namespace"), "JOB STATUS": st.get("jobStatus") or "",
            "DEPLOYMENT STATUS": st.get("jobDeploymentStatus") or "", "RAY CLUSTER": st.get("rayClusterName") or "",
            "JOB ID": st.get("jobId") or "", "AGE": age(meta.get("creationTimestamp"))}


def key_values(text: str | None) -> dict[str, str]:
    """``a=b,c=d`` (kubectl ray's selector/label flags) as a dict; ValueError names a malformed pair."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value, got {part!r}")
        out[key.strip()] = value.strip()
    return out
