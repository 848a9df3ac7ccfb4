"""Why a RayCluster is not ready, in one sentence built from what the API server already knows.

Pure: the cluster, its pods and the events are inputs. The answer names the pods by role and the reason Kubernetes
gives (the scheduler's "0/7 nodes are available: 7 Insufficient cpu", an image pull back-off, a failing readiness
probe, a Warning event of the operator such as a quota refusal), so a timed-out wait says what to fix instead of
"TimeoutError".
"""

from __future__ import annotations

from collections import Counter
from typing import Any

Obj = dict[str, Any]

#: Waiting reasons of a container that mean it will not start by itself.
_STUCK_WAITING = ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "CreateContainerConfigError",
                  "CreateContainerError", "InvalidImageName", "RunContainerError")


def _role(pod: Obj) -> str:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return "head" if labels.get("ray.io/node-type") == "head" else "worker"


def _scheduler_text(message: str) -> str:
    """The scheduler's node summary, its first sentence, without the postscripts ("no new claims to deallocate,
    preemption: 0/7 nodes ...")."""
    return message.split(" preemption:")[0].split(". ")[0].strip().rstrip(".,")


def pod_problem(pod: Obj) -> tuple[str, str] | None:
    """(reason, detail) of why one pod is not Ready, or None when it is Ready (or just starting normally)."""
    status = pod.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return scheduled.get("reason") or "Unschedulable", _scheduler_text(scheduled.get("message") or "")
    if status.get("phase") == "Failed":
        return status.get("reason") or "Failed", status.get("message") or ""
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in _STUCK_WAITING:
            return waiting["reason"], f"container {cs.get('name')}: {waiting.get('message') or waiting['reason']}"
        terminated = state.get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) != 0:
            return "Terminated", (f"container {cs.get('name')} exited {terminated.get('exitCode')}"
                                  f" ({terminated.get('reason') or 'Error'})")
    for cs in status.get("initContainerStatuses") or []:
        if not cs.get("ready") and ("running" in (cs.get("state") or {}) or "waiting" in (cs.get("state") or {})):
            # e.g. KubeRay's wait-gcs-ready: a worker waits here until it can reach the head's GCS
            return "Initializing", f"init container {cs.get('name')} has not finished"
    ready = conditions.get("Ready")
    if status.get("phase") == "Running" and ready and ready.get("status") == "False":
        return "NotReady", ready.get("message") or "readiness probe not passing yet"
    if status.get("phase") in (None, "", "Pending"):
        return "Pending", ""
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def pod_summary(pods: list[Obj]) -> list[str]:
    """Grouped pod problems, worst first: "2 worker pods Unschedulable (0/7 nodes are available: ...)"."""
    groups: Counter[tuple[str, str, str]] = Counter()
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        problem = pod_problem(pod)
        if problem is not None:
            groups[(_role(pod), *problem)] += 1
    order = sorted(groups.items(), key=lambda kv: (kv[0][1] == "Pending", kv[0][0] != "head", -kv[1]))
    return [f"{_plural(n, f'{role} pod')} {reason}" + (f" ({detail})" if detail else "")
            for (role, reason, detail), n in order]


def warning_events(events: list[Obj], limit: int = 2) -> list[str]:
    """The latest distinct Warning events' "Reason: message", newest first."""
    warnings = [e for e in events if e.get("type") == "Warning"]
    warnings.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or
                                    (e.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
    out: list[str] = []
    for e in warnings:
        line = f"{e.get('reason')}: {e.get('message', '').strip()}"
        if line not in out:
            out.append(line)
        if len(out) >= limit:
            break
    return out


def cluster_conditions(cluster: Obj) -> list[str]:
    """False/failing RayCluster conditions worth showing (ReplicaFailure True, HeadPodReady False with a message)."""
    out = []
    status = cluster.get("status") or {}
    for c in status.get("conditions") or []:
        failing = (c.get("type") == "ReplicaFailure" and c.get("status") == "True") or \
                  (c.get("type") == "HeadPodReady" and c.get("status") == "False" and c.get("message"))
        if failing:
            out.append(f"{c.get('type')}: {c.get('message') or c.get('reason')}")
    if status.get("state") == "failed" and status.get("reason"):
        out.append(f"state failed: {status['reason']}")
    return out


def explain_not_ready(cluster: Obj, pods: list[Obj], events: list[Obj], waited_s: float) -> str:
    """"RayCluster team-a/mine is not ready after 300 s: 2 worker pods Unschedulable (0/7 nodes ...)"."""
    meta = cluster.get("metadata") or {}
    head = f"RayCluster {meta.get('namespace', '')}/{meta.get('name', '')} is not ready after {waited_s:.0f} s"
    reasons = pod_summary(pods)
    meaningful = [r for r in reasons if " Pending" not in r or "(" in r]
    parts = meaningful + cluster_conditions(cluster) + warning_events(events)
    if not parts and reasons:
        parts = reasons
    if not parts:
        if not pods:
            parts = ["no pods were created (is the rayop or KubeRay operator running and watching this namespace?)"]
        else:
            state = (cluster.get("status") or {}).get("state") or "not reported"
            parts = [f"state {state}; every pod is Running and Ready, the operator has not marked it ready yet"]
    return f"{head}: " + "; ".join(parts)


def progress_line(cluster: Obj, pods: list[Obj]) -> str:
    """One line for the live display: state, head, workers ready/desired and the worst current problem."""
    status = cluster.get("status") or {}
    state = status.get("state") or "pending"
    heads = [p for p in pods if _role(p) == "head"]
    head = "head ready" if heads and pod_problem(heads[0]) is None else "head starting"
    ready = status.get("readyWorkerReplicas") or 0
    desired = status.get("desiredWorkerReplicas")
    if desired is None:
        desired = sum(int(g.get("replicas") or 0) for g in (cluster.get("spec") or {}).get("workerGroupSpecs") or [])
    problems = [r for r in pod_summary(pods) if " Pending" not in r]
    tail = f" - {problems[0]}" if problems else ""
    return f"state {state}, {head}, workers {ready}/{desired} ready{tail}"
