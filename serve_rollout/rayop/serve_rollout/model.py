"""The rollout's vocabulary: what one pass observed, what the spec wants, and the actions a decision returns.

Everything a decision needs after an operator restart is read from the objects: which cluster is active or pending
(the RayService status), which spec and which serve config each cluster carries (its annotations), when an old
cluster may go (its ``rayop.io/delete-after`` annotation), which cluster the Services select. Nothing here is kept
in memory between passes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from rayop.api.rayservice_status import ApplicationStatus


@dataclass(frozen=True)
class AppView:
    """One Serve application as Ray's ``GET /api/serve/applications/`` reported it."""

    status: str
    message: str = ""
    deployments: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Deployment name to (status, message)."""


@dataclass(frozen=True)
class ClusterView:
    """One RayCluster of the RayService, as the caches and the Serve poller show it."""

    name: str
    #: ``ray.io/hash-without-replicas-and-workers-to-delete`` the cluster was created (or last updated) with.
    cluster_hash: str | None = None
    #: ``ray.io/num-worker-groups`` at that time (for the appended-worker-groups check).
    num_worker_groups: int | None = None
    #: Hash of the serve config last applied to this cluster (``rayop.io/serve-config-hash``); None: none yet.
    serve_config_hash: str | None = None
    created_at: dt.datetime | None = None
    #: The cluster has a deletionTimestamp.
    deleting: bool = False
    #: The head pod is Running and Ready.
    head_ready: bool = False
    #: Serve applications by name; None while no answer has come from the Serve API.
    apps: Mapping[str, AppView] | None = None
    #: The head's Serve proxy answers ``/-/healthz``.
    proxies_healthy: bool = False
    #: Ready worker pods labelled ``ray.io/serve=true``: endpoints the serve Service routes to without the head.
    #: Serve runs a proxy only on nodes with a replica (``EveryNode``), so a head with ``num-cpus: 0`` — KubeRay's
    #: own high-availability sample — never has one; its workers serve.
    ready_serve_workers: int = 0
    #: When the drained cluster may be deleted (``rayop.io/delete-after``); None: not marked.
    delete_after: dt.datetime | None = None

    @property
    def serving_ready(self) -> bool:
        """Healthy for traffic: head ready, at least one app, every app RUNNING, and somewhere to route to (the
        head's proxy answers, or a Ready worker is a serve endpoint, as KubeRay counts ``numServeEndpoints``)."""
        return (self.head_ready and (self.proxies_healthy or self.ready_serve_workers > 0) and bool(self.apps)
                and all(a.status == ApplicationStatus.RUNNING for a in (self.apps or {}).values()))

    def failed_apps(self) -> dict[str, AppView]:
        return {n: a for n, a in (self.apps or {}).items()
                if a.status in (ApplicationStatus.DEPLOY_FAILED, ApplicationStatus.UNHEALTHY)}


@dataclass(frozen=True)
class Desired:
    """What the RayService spec wants, reduced to what the decision compares."""

    cluster_hash: str
    #: ``prefix_hashes[n]``: the hash of the spec with only its first ``n`` worker groups (len = groups + 1).
    prefix_hashes: tuple[str, ...]
    #: Hash of ``serveConfigV2``; None when the spec has no serve config.
    serve_config_hash: str | None
    #: NewCluster, NewClusterWithIncrementalUpgrade, None or unset.
    upgrade_type: str | None = None
    #: Operator-wide ``ENABLE_ZERO_DOWNTIME``: an unset strategy means NewCluster while true.
    zero_downtime_default: bool = True
    deletion_delay_s: float = 60.0
    #: An upgrade whose pending cluster does not serve within this many seconds is abandoned.
    upgrade_timeout_s: float = 900.0
    #: A GatewayClass CRD exists (needed by NewClusterWithIncrementalUpgrade).
    gateway_available: bool = False

    @property
    def num_worker_groups(self) -> int:
        return len(self.prefix_hashes) - 1

    @property
    def goal(self) -> str:
        """One string naming cluster spec and serve config together (what an abandoned upgrade aimed at)."""
        return f"{self.cluster_hash}/{self.serve_config_hash or ''}"


@dataclass(frozen=True)
class Capacity:
    """The capacity check of the cluster about to be created."""

    fits: bool
    message: str = ""


@dataclass(frozen=True)
class Observed:
    active: str | None
    pending: str | None
    #: The cluster the RayService's serve (and head) Service select; None: no Service yet.
    serving: str | None
    clusters: Mapping[str, ClusterView]
    now: dt.datetime
    #: A fresh ``<svc>-<rand5>`` name, used only if a new pending cluster is started.
    fresh_name: str
    #: The goal of the last abandoned upgrade (``rayop.io/abandoned-upgrade`` on the RayService).
    abandoned_goal: str | None = None
    #: The capacity check for a pending cluster that is named but not created yet (None: not checked).
    capacity: Capacity | None = None
    #: The RayService is being deleted.
    deleting: bool = False
    #: Clusters whose pods the serve Service's EndpointSlices still list: not drained yet, whatever the selector says.
    endpoint_clusters: frozenset[str] = frozenset()


# ---- actions ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateCluster:
    """Create the pending cluster ``name`` from the spec."""

    name: str


@dataclass(frozen=True)
class UpdateClusterInPlace:
    """Rewrite cluster ``name`` from the spec (only worker groups were appended)."""

    name: str


@dataclass(frozen=True)
class ApplyServeConfig:
    """PUT the spec's serve config to cluster ``name``; on success its hash is recorded on that cluster."""

    name: str


@dataclass(frozen=True)
class SwitchServices:
    """Point the RayService's head and serve Services at cluster ``name`` (the traffic switch)."""

    name: str


@dataclass(frozen=True)
class MarkForDeletion:
    """Cluster ``name`` takes no traffic any more: record that it may be deleted at ``at``."""

    name: str
    at: dt.datetime


@dataclass(frozen=True)
class DeleteCluster:
    name: str
    reason: str


@dataclass(frozen=True)
class AbandonUpgrade:
    """The upgrade to ``goal`` failed: its pending cluster ``name`` goes, traffic stays; say why."""

    name: str
    goal: str
    message: str


@dataclass(frozen=True)
class ReportCapacityShortfall:
    """The pending cluster would not fit on the nodes; it is not created."""

    message: str


@dataclass(frozen=True)
class ReportUnsupported:
    """NewClusterWithIncrementalUpgrade was asked for; say how it is handled."""

    message: str


@dataclass(frozen=True)
class Note:
    """A Normal event worth recording for a step of the rollout."""

    reason: str
    message: str


Action = (CreateCluster | UpdateClusterInPlace | ApplyServeConfig | SwitchServices | MarkForDeletion | DeleteCluster
          | AbandonUpgrade | ReportCapacityShortfall | ReportUnsupported | Note)


@dataclass
class Plan:
    """One decision: the sides as they should be written to the status, and the actions."""

    active: str | None
    pending: str | None
    actions: list[Action] = field(default_factory=list)
    #: The status must be written before the actions (a new pending name: created only once it is recorded).
    write_first: bool = False
    requeue_after: float | None = None

    def after(self, seconds: float) -> None:
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)

    def of(self, kind: type) -> list[Action]:
        return [a for a in self.actions if isinstance(a, kind)]
