"""Prometheus metrics of the operator, with KubeRay's names so its Grafana dashboard and alerts keep working.

``kuberay_cluster_*`` gauges describe RayClusters; ``controller_runtime_reconcile_*`` describe reconcile passes the
way controller-runtime reports them. Served on ``Settings.metrics_port`` at ``/metrics`` (0 disables the server;
the metrics are still collected, so tests can read them from the registry).
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LABELS = ("name", "namespace", "uid")


class OperatorMetrics:
    """All metrics of one operator process, registered on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.registry = registry
        self.provisioned_seconds = Gauge(
            "kuberay_cluster_provisioned_duration_seconds",
            "Seconds from RayCluster creation until RayClusterProvisioned first became True.",
            _LABELS, registry=registry)
        self.cluster_info = Gauge("kuberay_cluster_info", "One per RayCluster.", (*_LABELS, "owner_kind"),
                                  registry=registry)
        self.condition_provisioned = Gauge(
            "kuberay_cluster_condition_provisioned", "RayClusterProvisioned condition of each RayCluster.",
            (*_LABELS, "condition"), registry=registry)
        self.reconcile_total = Counter("controller_runtime_reconcile_total", "Reconcile passes by result.",
                                       ("controller", "result"), registry=registry)
        self.reconcile_seconds = Histogram(
            "controller_runtime_reconcile_time_seconds", "Duration of reconcile passes.", ("controller",),
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=registry)
        self.pods_created = Counter("rayop_pods_created_total", "Pods created by the operator.", ("node_type",),
                                    registry=registry)
        self.pods_deleted = Counter("rayop_pods_deleted_total", "Pods deleted by the operator.", ("node_type",),
                                    registry=registry)
        self.job_info = Gauge("kuberay_job_info", "One per RayJob.", _LABELS, registry=registry)
        self.job_deployment_status = Gauge("kuberay_job_deployment_status", "jobDeploymentStatus of each RayJob.",
                                           (*_LABELS, "deployment_status"), registry=registry)
        self.job_execution_seconds = Gauge(
            "kuberay_job_execution_duration_seconds", "Seconds from a RayJob's startTime to Complete/Failed/Retrying.",
            (*_LABELS, "job_deployment_status", "retry_count"), registry=registry)
        self.service_info = Gauge("kuberay_service_info", "One per RayService.", _LABELS, registry=registry)
        self.service_ready = Gauge("kuberay_service_condition_ready", "Ready condition of each RayService.",
                                   (*_LABELS, "condition"), registry=registry)
        self.service_upgrading = Gauge(
            "kuberay_service_condition_upgrade_in_progress", "UpgradeInProgress condition of each RayService.",
            (*_LABELS, "condition"), registry=registry)
        self._service_conditions: dict[tuple[str, str, str], tuple[str, str]] = {}
        self.leader = Gauge("leader_election_master_status",
                            "1 while this process holds the leader Lease (client-go's name), else 0.", ("name",),
                            registry=registry)
        self._job_state: dict[tuple[str, str, str], str] = {}
        self._owner: dict[tuple[str, str, str], str] = {}
        self._condition: dict[tuple[str, str, str], str] = {}
        self._provisioned: set[tuple[str, str, str]] = set()

    def observe_cluster(self, name: str, namespace: str, uid: str, owner_kind: str, provisioned: bool) -> None:
        """Record the cluster's info and Provisioned condition (one series per cluster)."""
        key = (name, namespace, uid)
        self.cluster_info.labels(*key, owner_kind).set(1)
        condition = "true" if provisioned else "false"
        previous = self._condition.get(key)
        if previous is not None and previous != condition:
            self.condition_provisioned.remove(*key, previous)
        self.condition_provisioned.labels(*key, condition).set(1)
        self._condition[key] = condition
        self._owner[key] = owner_kind

    def provisioned(self, name: str, namespace: str, uid: str, seconds: float) -> None:
        self.provisioned_seconds.labels(name, namespace, uid).set(seconds)
        self._provisioned.add((name, namespace, uid))

    def forget_cluster(self, name: str, namespace: str, uid: str) -> None:
        """The RayCluster is gone: drop its series (as KubeRay does on delete)."""
        key = (name, namespace, uid)
        if key in self._owner:
            self.cluster_info.remove(*key, self._owner.pop(key))
        if key in self._condition:
            self.condition_provisioned.remove(*key, self._condition.pop(key))
        if key in self._provisioned:
            self.provisioned_seconds.remove(*key)
            self._provisioned.discard(key)

    def observe_job(self, name: str, namespace: str, uid: str, state: str) -> None:
        """Record a RayJob's info and its current jobDeploymentStatus (one series per job)."""
        key = (name, namespace, uid)
        self.job_info.labels(*key).set(1)
        previous = self._job_state.get(key)
        if previous is not None and previous != state:
            self.job_deployment_status.remove(*key, previous)
        self.job_deployment_status.labels(*key, state).set(1)
        self._job_state[key] = state

    def job_finished(self, name: str, namespace: str, uid: str, state: str, retries: int, seconds: float) -> None:
        """A RayJob attempt ended (Complete, Failed or Retrying), as KubeRay reports it."""
        self.job_execution_seconds.labels(name, namespace, uid, state, str(retries)).set(seconds)

    def forget_job(self, name: str, namespace: str, uid: str) -> None:
        key = (name, namespace, uid)
        with contextlib.suppress(KeyError):
            self.job_info.remove(*key)
        if key in self._job_state:
            self.job_deployment_status.remove(*key, self._job_state.pop(key))

    def observe_service(self, name: str, namespace: str, uid: str, conditions: dict[str, dict[str, str]]) -> None:
        """Record a RayService's info and its Ready / UpgradeInProgress conditions ("true"/"false")."""
        key = (name, namespace, uid)
        self.service_info.labels(*key).set(1)
        ready = str(conditions.get("Ready", {}).get("status", "False")).lower()
        upgrading = str(conditions.get("UpgradeInProgress", {}).get("status", "False")).lower()
        previous = self._service_conditions.get(key)
        if previous is not None and previous != (ready, upgrading):
            with contextlib.suppress(KeyError):
                self.service_ready.remove(*key, previous[0])
            with contextlib.suppress(KeyError):
                self.service_upgrading.remove(*key, previous[1])
        self.service_ready.labels(*key, ready).set(1)
        self.service_upgrading.labels(*key, upgrading).set(1)
        self._service_conditions[key] = (ready, upgrading)

    def forget_service(self, name: str, namespace: str, uid: str) -> None:
        key = (name, namespace, uid)
        with contextlib.suppress(KeyError):
            self.service_info.remove(*key)
        previous = self._service_conditions.pop(key, None)
        if previous is not None:
            with contextlib.suppress(KeyError):
                self.service_ready.remove(*key, previous[0])
            with contextlib.suppress(KeyError):
                self.service_upgrading.remove(*key, previous[1])

    def forget_objects(self) -> None:
        """Leadership ended: drop every per-object series, so a standby never reports objects it no longer
        reconciles (the next term re-observes them from a fresh LIST)."""
        for gauge in (self.cluster_info, self.condition_provisioned, self.provisioned_seconds, self.job_info,
                      self.job_deployment_status, self.job_execution_seconds, self.service_info,
                      self.service_ready, self.service_upgrading):
            gauge.clear()
        for state in (self._job_state, self._owner, self._condition, self._service_conditions):
            state.clear()
        self._provisioned.clear()

    def serve(self, port: int) -> None:
        """Serve ``/metrics`` on ``port`` (in a background thread); 0 does nothing."""
        if port:
            start_http_server(port, registry=self.registry)
