"""What one RayJob pass sees, gathered by the controller from the shared caches and the job poller (no I/O here),
and the pure reading of it that the state machine needs: did a pod of the cluster fail to start?"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from .steps import parse_time


class JobInfoLike(Protocol):
    """What the state machine reads of Ray's job info (``rayop.operator.rayjob.dashboard.JobInfo``)."""

    @property
    def status(self) -> str: ...
    @property
    def message(self) -> str | None: ...
    @property
    def start_time(self) -> int | None: ...
    @property
    def end_time(self) -> int | None: ...


@dataclass(frozen=True)
class JobPoll:
    """The job poller's latest answer: ``ok`` with ``value`` None means the job does not exist (404)."""

    ok: bool
    value: JobInfoLike | None = None
    error: str | None = None


@dataclass(frozen=True)
class Observed:
    status: dict[str, Any]
    cluster: dict[str, Any] | None = None
    pods: list[dict[str, Any]] = field(default_factory=list)
    submitter: dict[str, Any] | None = None
    #: SidecarMode: the cluster was provisioned and its head pod is gone (KubeRay does not recreate it).
    head_missing: bool = False
    #: SidecarMode: (exit code, reason, finished at) of the terminated submitter container.
    sidecar_exit: tuple[int, str, dt.datetime | None] | None = None
    job_info: JobPoll | None = None
    #: KubeRay's ``status.dashboardURL`` value (``<head-svc>.<ns>.svc.<domain>:<port>``).
    dashboard_url: str | None = None


#: Container waiting reasons that mean "this pod will not start by itself".
STUCK_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff",
                           "CreateContainerConfigError", "CreateContainerError", "RunContainerError"})


def pod_start_problem(pod: dict[str, Any]) -> str | None:
    """Why ``pod`` cannot start, or None: a stuck container, or the scheduler's Unschedulable verdict."""
    status = pod.get("status") or {}
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_REASONS:
            return f"container {cs.get('name')}: {waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    for cond in status.get("conditions") or []:
        unschedulable = cond.get("status") == "False" and cond.get("reason") == "Unschedulable"
        if cond.get("type") == "PodScheduled" and unschedulable:
            return f"Unschedulable: {cond.get('message', '')}".rstrip(": ")
    return None


def startup_failure(pods: list[dict[str, Any]], start_time: str | None, now: dt.datetime,
                    deadline_s: float) -> str | None:
    """A message naming the first pod that cannot start, once the job has been starting for ``deadline_s``."""
    started = parse_time(start_time)
    if started is None or (now - started).total_seconds() < deadline_s:
        return None
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("name", "")):
        problem = pod_start_problem(pod)
        if problem is not None:
            name = pod.get("metadata", {}).get("name", "")
            return f"Pod {name} of the RayCluster cannot start after {int(deadline_s)} s: {problem}"
    return None
