"""What one pass of a training job decides (:mod:`.plan`), as typed data the controller carries out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .framework import Body


@dataclass(frozen=True)
class Options:
    cluster_domain: str = ""
    gang: bool = True
    max_creates: int = 200


@dataclass
class Plan:
    status: Body
    create_pods: list[tuple[str, Body]] = field(default_factory=list)
    create_services: list[Body] = field(default_factory=list)
    delete_pods: list[tuple[str, Body]] = field(default_factory=list)
    delete_services: list[str] = field(default_factory=list)
    #: ``batch/v1`` Jobs of the framework's ``job_roles`` to create / delete (by name, pods with them).
    create_jobs: list[Body] = field(default_factory=list)
    delete_jobs: list[str] = field(default_factory=list)
    #: Services whose replacement count goes up (name, new count), written before their pod is deleted.
    count_replacements: list[tuple[str, int]] = field(default_factory=list)
    delete_job: bool = False
    events: list[tuple[str, str, str]] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    requeue_after: float | None = None
    #: Every desired pod exists: the gang may be admitted (the controller checks capacity).
    complete: bool = False
    active: bool = True
    namespace: str = ""


def ts(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
