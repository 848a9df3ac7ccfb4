"""The one typed settings object of the operator process, nested by concern.

Everything the operator can be told comes from here: command-line flags override ``RAYOP_*`` environment variables,
which override the defaults below. Sections: ``api`` (the API server connection), ``queue`` (how passes are
scheduled, for every kind), ``leader_election``, and one section per controller (``raycluster``). Nested values are
read from ``RAYOP_<SECTION>__<FIELD>`` (``RAYOP_QUEUE__RESYNC_SECONDS=60``); the flat names of earlier releases
(``RAYOP_API_CONNECTIONS``, ``RAYOP_RESYNC_SECONDS``, ...) are still accepted. The only other environment reads in
rayop are kubectl's own (``KUBECONFIG``, the in-cluster service account), in :mod:`rayop.kube.config`. Tests
construct ``Settings(...)`` directly instead of flipping switches in production code.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rayop.operator.builders import BuildOptions


class ApiSettings(BaseModel):
    """The connection to the API server."""

    connections: int = Field(default=10, ge=2)
    """Most requests in flight to the API server (HTTP/1.1: one per connection; watches have connections of their
    own). More is not faster on a busy API server: it saturates its CPU, which then closes watches (the scheduler's,
    kwok's, rayop's) as too slow to keep up, and everyone re-watches. In the 200-cluster burst on 2 cores, 10
    connections made every cluster ready in a median 20.0 s (7 runs; 18-57 closed watches), 32 in 22.2 s (11 runs;
    25-128 closed watches); ``benchmarks/README.md`` has the runs."""


class QueueSettings(BaseModel):
    """How reconcile passes are scheduled (the same for every kind)."""

    max_concurrent_reconciles: int = Field(default=20, ge=1)
    """How many objects are reconciled at the same time, per controller (the work queue's semaphore)."""

    child_event_debounce_seconds: float = Field(default=0.25, ge=0)
    """How long an object waits after a child's event before its pass, so that the events of many pods (added,
    bound, running, ready) make one pass and one status write; changes of the object itself do not wait."""

    resync_seconds: float = Field(default=300.0, gt=0)
    """Safety-net period: every object is reconciled at least this often even without events (KubeRay: 300 s)."""

    expectations_ttl_seconds: float = Field(default=30.0, gt=0)
    """How long a pass waits for the cache to show its own creates/deletes before it stops trusting them."""

    finalizer_deadline_seconds: float = Field(default=300.0, gt=0)
    """How long after deletion a kind's cleanup may hold its finalizer; past it the finalizer is removed anyway
    (Warning event ``FinalizerDeadlineExceeded``), so nothing outside the cluster can hang a deletion forever."""


class LeaderElectionSettings(BaseModel):
    """A ``coordination.k8s.io`` Lease, so that two operator processes never both act (KubeRay: on by default)."""

    enabled: bool = True
    namespace: str | None = None
    """Namespace of the Lease; unset: the operator pod's namespace in-cluster, else ``default``."""
    lease_name: str | None = None
    """Lease name; unset: ``rayop-leader``, suffixed with a hash of the watched namespaces when they are
    restricted, so operators for disjoint namespace sets do not compete while two for the same set do."""
    lease_duration_seconds: float = Field(default=15.0, gt=0)
    renew_deadline_seconds: float = Field(default=10.0, gt=0)
    retry_period_seconds: float = Field(default=2.0, gt=0)


class RayClusterSettings(BaseModel):
    """The RayCluster controller, and the operator-level switches of what it builds (KubeRay's env names)."""

    max_pod_creates_per_pass: int = Field(default=50, ge=1)
    """Upper bound of pods one cluster creates in one pass, so one big scale-up cannot starve others (one
    multi-host replica larger than this is still created whole)."""
    enable_random_pod_delete: bool = False
    """Scale down by deleting pods even when autoscaling is on (KubeRay's ENABLE_RANDOM_POD_DELETE)."""
    autoscaler_image: str | None = None
    """An image that holds rayop: autoscaler sidecars run rayop's autoscaler from it. Unset: Ray's own autoscaler
    in the head container's image, exactly as KubeRay."""
    cluster_domain: str = "cluster.local"
    """Cluster DNS domain in FQ_RAY_IP / RAY_ADDRESS (KubeRay: CLUSTER_DOMAIN)."""
    enable_init_container_injection: bool = True
    """Inject the wait-gcs-ready init container into workers (ENABLE_INIT_CONTAINER_INJECTION)."""
    enable_probes_injection: bool = True
    """Inject liveness/readiness probes into Ray containers (ENABLE_PROBES_INJECTION)."""
    head_service_cluster_ip: bool = False
    """Give the head Service a ClusterIP instead of making it headless (ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE)."""
    enable_login_shell: bool = False
    """Run the Ray container through ``bash -cl`` (ENABLE_LOGIN_SHELL)."""
    default_container_envs: list[dict[str, Any]] = Field(default_factory=list)
    """Env vars added to every Ray container unless already set (KubeRay config defaultContainerEnvs)."""
    default_pod_labels: dict[str, str] = Field(default_factory=dict)
    default_pod_annotations: dict[str, str] = Field(default_factory=dict)
    head_sidecar_containers: list[dict[str, Any]] = Field(default_factory=list)
    worker_sidecar_containers: list[dict[str, Any]] = Field(default_factory=list)

    def build_options(self, operator_version: str) -> BuildOptions:
        """The builders' options from these settings."""
        return BuildOptions(
            cluster_domain=self.cluster_domain, rayop_autoscaler_image=self.autoscaler_image,
            enable_init_container_injection=self.enable_init_container_injection,
            enable_probes_injection=self.enable_probes_injection,
            head_service_cluster_ip=self.head_service_cluster_ip, enable_login_shell=self.enable_login_shell,
            operator_version=operator_version, default_container_envs=tuple(self.default_container_envs),
            default_pod_labels=dict(self.default_pod_labels),
            default_pod_annotations=dict(self.default_pod_annotations),
            head_sidecar_containers=tuple(self.head_sidecar_containers),
            worker_sidecar_containers=tuple(self.worker_sidecar_containers),
        )


class RayJobSettings(BaseModel):
    """The RayJob controller (KubeRay's env names in the field docs)."""

    transition_grace_seconds: float = Field(default=300.0, gt=0)
    """A terminal Ray job whose submitter has not finished becomes Complete/Failed after this long
    (RAYJOB_DEPLOYMENT_STATUS_TRANSITION_GRACE_PERIOD_SECONDS)."""
    status_check_timeout_seconds: float = Field(default=300.0, gt=0)
    """Job status checks failing this long fail the RayJob with JobStatusCheckTimeoutExceeded
    (RAYJOB_STATUS_CHECK_TIMEOUT_SECONDS)."""
    startup_deadline_seconds: float = Field(default=300.0, gt=0)
    """A pod of the job's cluster that cannot start (image pull errors, crash loops, unschedulable) this long after
    the job started fails it with RayClusterStartupFailed (rayop's; the annotation
    ``rayop.io/startup-deadline-seconds`` on a RayJob overrides it)."""
    dashboard_address: Literal["auto", "service", "pod-ip"] = "auto"
    """How the operator reaches a head's dashboard: ``auto`` uses the head Service's DNS name in-cluster and the
    head pod's IP elsewhere (cluster DNS names resolve only inside the cluster)."""
    poll_interval_seconds: float = Field(default=3.0, gt=0)
    """How often a running job's status is read from its dashboard (one call in flight per job)."""
    poll_timeout_seconds: float = Field(default=5.0, gt=0)
    max_polls_in_flight: int = Field(default=16, ge=1)
    """Dashboard calls in flight across all RayJobs: 100 heads that never answer cost at most this many."""
    delete_rayjob_after_job_finishes: bool = False
    """With shutdownAfterJobFinishes, delete the RayJob itself instead of its cluster
    (DELETE_RAYJOB_CR_AFTER_JOB_FINISHES)."""


class KubeflowSettings(BaseModel):
    """The Kubeflow training-job controllers (TFJob, PyTorchJob, XGBoostJob)."""

    enabled: bool | None = None
    """Run them: true, false, or unset (default) for "when the API server serves kubeflow.org/v1": the chart
    installs the CRDs only with ``kubeflow.installCRDs``, and a cluster running Kubeflow's own training-operator
    keeps it (then set ``managed_by`` apart)."""
    managed_by: list[str] = Field(default_factory=lambda: ["", "kubeflow.org/training-operator"])
    """``spec.runPolicy.managedBy`` values this operator acts on (unset counts as "")."""
    gang_start: bool = True
    """Create pods behind the ``rayop.io/gang`` scheduling gate and lift a job's gates only when all its pods
    fit the nodes together."""
    cluster_domain: str = ""
    """Suffix of TF_CONFIG addresses after ``.svc`` (the training-operator's CUSTOM_CLUSTER_DOMAIN)."""
    max_pod_creates_per_pass: int = Field(default=200, ge=1)
    """Pods one pass of one job may create."""


class RayServiceSettings(BaseModel):
    """The RayService controller (KubeRay's env names in the field docs)."""

    zero_downtime: bool = True
    """An unset upgradeStrategy upgrades on a new cluster (ENABLE_ZERO_DOWNTIME)."""
    upgrade_timeout_seconds: float = Field(default=900.0, gt=0)
    """An upgrade whose pending cluster does not serve within this long is abandoned (rayop's; the annotation
    ``rayop.io/upgrade-timeout-seconds`` on a RayService overrides it)."""
    capacity_check: bool = True
    """Before creating the pending cluster of an upgrade, check that its pods fit on the nodes (rayop's)."""
    poll_interval_seconds: float = Field(default=2.0, gt=0)
    """How often each active and pending cluster's Serve applications and head proxy are read."""
    http_timeout_seconds: float = Field(default=2.0, gt=0)
    """Timeout of each Serve API and proxy call (KubeRay's 2 s)."""
    max_polls_in_flight: int = Field(default=16, ge=1)
    requeue_seconds: float = Field(default=30.0, gt=0)
    """A RayService with nothing pending is looked at again after this long (changes wake it at once)."""


class GcsHaSettings(BaseModel):
    """GCS fault tolerance with Redis (the RayCluster controller with :mod:`rayop.gcs_ha`)."""

    enable_redis_cleanup: bool = True
    """Hold ``ray.io/gcs-ft-redis-cleanup-finalizer`` on FT clusters and delete their Redis keys on deletion
    (KubeRay: ENABLE_GCS_FT_REDIS_CLEANUP)."""
    probe_interval_seconds: float = Field(default=10.0, gt=0)
    """How often each FT cluster's Redis is checked (from the poller, never inside a pass)."""
    probe_timeout_seconds: float = Field(default=3.0, gt=0)
    """Connect/read timeout of every Redis call the operator makes."""
    redis_ca_file: str | None = None
    """PEM CA bundle that verifies ``rediss://`` Redis servers for the operator's probes and cleanups (the heads
    take theirs from Ray's ``RAY_REDIS_CA_CERT``); unset: the system's trust store."""
    orphan_sweep_interval_seconds: float = Field(default=0.0, ge=0)
    """Every this many seconds, delete the namespaces rayop registered whose RayCluster is gone (0: off;
    ``rayop gcs gc`` does it by hand)."""


#: Flat names of earlier releases (kwargs and ``RAYOP_<NAME>``) and where they live now.
LEGACY_FLAT = {
    "api_connections": ("api", "connections"),
    "max_concurrent_reconciles": ("queue", "max_concurrent_reconciles"),
    "child_event_debounce_seconds": ("queue", "child_event_debounce_seconds"),
    "resync_seconds": ("queue", "resync_seconds"),
    "max_pod_creates_per_pass": ("raycluster", "max_pod_creates_per_pass"),
    "enable_random_pod_delete": ("raycluster", "enable_random_pod_delete"),
    "autoscaler_image": ("raycluster", "autoscaler_image"),
}


class Settings(BaseSettings):
    """Operator settings (env prefix ``RAYOP_``, nested ``__``; lists are comma-separated or JSON)."""

    model_config = SettingsConfigDict(env_prefix="RAYOP_", env_nested_delimiter="__", extra="ignore")

    kubeconfig: str | None = None
    """Path of a kubeconfig; unset means in-cluster config, then ``~/.kube/config``."""
    namespaces: list[str] = Field(default_factory=list)
    """Namespaces to watch (globs allowed); empty means the whole cluster."""
    log_format: Literal["json", "plain"] = "json"
    """Structured JSON logs (default) or human-readable lines."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Operator log level."""
    health_port: int = 8081
    """Port of ``/healthz`` (leader or standby, informers alive); 0 disables it."""
    metrics_port: int = 8080
    """Port of the Prometheus metrics endpoint (``/metrics``); 0 disables it."""
    operator_name: str = "rayop"
    """The API field manager and the leader-election identity prefix."""
    api: ApiSettings = Field(default_factory=ApiSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    leader_election: LeaderElectionSettings = Field(default_factory=LeaderElectionSettings)
    raycluster: RayClusterSettings = Field(default_factory=RayClusterSettings)
    rayjob: RayJobSettings = Field(default_factory=RayJobSettings)
    rayservice: RayServiceSettings = Field(default_factory=RayServiceSettings)
    kubeflow: KubeflowSettings = Field(default_factory=KubeflowSettings)
    gcs_ha: GcsHaSettings = Field(default_factory=GcsHaSettings)

    @model_validator(mode="before")
    @classmethod
    def _accept_flat_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for flat, (section, name) in LEGACY_FLAT.items():
            value = data.pop(flat, None)
            if value is None:
                value = os.environ.get(f"RAYOP_{flat.upper()}")
            if value is not None:
                nested = data.get(section)
                nested = dict(nested) if isinstance(nested, dict) else (
                    nested.model_dump() if isinstance(nested, BaseModel) else {})
                nested.setdefault(name, value)
                data[section] = nested
        return data


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment with explicit overrides (for example from CLI flags) on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
