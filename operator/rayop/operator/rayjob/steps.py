"""What one step of the RayJob state machine hands back: the next status and typed actions, the operator-level
timeouts it decides with, and the status's time format. Split from :mod:`.plan` so the plan holds only the
states; :mod:`.deletion` and :mod:`.observe` share the time helpers instead of keeping copies."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from rayop.api.rayjob import JobDeploymentStatus as D
from rayop.api.rayjob import JobStatus as J

TERMINAL_JOB = frozenset({J.STOPPED, J.SUCCEEDED, J.FAILED})
TERMINAL_DEPLOYMENT = frozenset({D.COMPLETE, D.FAILED})
STARTUP_FAILED = "RayClusterStartupFailed"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Timing:
    """Operator-level timeouts (KubeRay's env defaults)."""

    transition_grace_s: float = 300.0
    status_check_timeout_s: float = 300.0
    submitter_finished_timeout_s: float = 30.0
    startup_deadline_s: float = 300.0


@dataclass(frozen=True)
class CreateCluster:
    name: str


@dataclass(frozen=True)
class CreateSubmitter:
    pass


@dataclass(frozen=True)
class SubmitJob:
    """HTTPMode: POST the job (the submission id is already in the status)."""


@dataclass(frozen=True)
class EnsureJobHeadService:
    pass


@dataclass(frozen=True)
class StopJob:
    """The RayJob failed while its Ray job may still run (a deadline): stop the Ray job, so a kept cluster does not
    go on running it (rayop's; KubeRay leaves it running on a selected cluster)."""


@dataclass(frozen=True)
class DeleteChildren:
    """Delete the cluster (unless selected) and the submitter Job (Suspending/Retrying)."""

    cluster: bool
    submitter: bool


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class DeleteCluster:
    name: str


@dataclass(frozen=True)
class SuspendWorkers:
    """``DeleteWorkers``: set ``suspend: true`` on every worker group of the cluster."""

    name: str


@dataclass(frozen=True)
class DeleteSelf:
    pass


DeletionAction = DeleteCluster | SuspendWorkers | DeleteSelf


Action = (CreateCluster | CreateSubmitter | SubmitJob | EnsureJobHeadService | StopJob | DeleteChildren
          | DeletionAction | Event)


@dataclass
class Step:
    status: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    #: Write the status before any action (it fixes an id or a name the actions rely on).
    write_first: bool = False
    requeue_after: float | None = None

    def after(self, seconds: float) -> Step:
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)
        return self


def rfc3339(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def random_suffix() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(5))
