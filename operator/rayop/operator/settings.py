"""The one typed settings object of the operator process.

Everything the operator can be told comes from here: command-line flags override ``RAYOP_*`` environment
variables, which override the defaults below. Nothing else in rayop reads the environment. Tests construct
``Settings(...)`` directly instead of flipping switches in production code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Operator settings (env prefix ``RAYOP_``; lists are comma-separated or JSON)."""

    model_config = SettingsConfigDict(env_prefix="RAYOP_", extra="ignore")

    kubeconfig: str | None = None
    """Path of a kubeconfig; unset means in-cluster config, then ``~/.kube/config``."""

    namespaces: list[str] = Field(default_factory=list)
    """Namespaces to watch; empty means the whole cluster."""

    max_concurrent_reconciles: int = Field(default=20, ge=1)
    """How many objects are reconciled at the same time (kopf workers)."""

    api_connections: int = Field(default=10, ge=2)
    """Most requests in flight to the API server (HTTP/1.1: one per connection; watches have connections of their
    own). More is not faster on a busy API server: it saturates its CPU, which then closes watches (the scheduler's,
    kwok's, rayop's) as too slow to keep up, and everyone re-watches. In the 200-cluster burst on 2 cores, 10
    connections made every cluster ready in a median 20.0 s (7 runs; 18-57 closed watches), 32 in 22.2 s (11 runs;
    25-128 closed watches); ``benchmarks/README.md`` has the runs."""

    max_pod_creates_per_pass: int = Field(default=50, ge=1)
    """Upper bound of pods one cluster creates in one reconcile pass, so one big scale-up cannot starve others."""

    log_format: Literal["json", "plain"] = "json"
    """Structured JSON logs (default) or human-readable lines."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Operator log level."""

    health_port: int = 8081
    """Port of the liveness endpoint (``/healthz``); 0 disables it."""

    metrics_port: int = 8080
    """Port of the Prometheus metrics endpoint (``/metrics``); 0 disables it."""

    child_event_debounce_seconds: float = Field(default=0.25, ge=0)
    """How long a cluster waits after a pod or service event before its pass, so that the events of many pods
    (added, bound, running, ready) make one pass and one status write; changes of the RayCluster itself do not wait."""

    resync_seconds: float = Field(default=300.0, gt=0)
    """Safety-net period: every object is reconciled at least this often even without events (KubeRay: 300 s)."""

    operator_name: str = "rayop"
    """Used as the kopf peering/field-manager identity and in events."""

    enable_random_pod_delete: bool = False
    """Scale down by deleting pods even when autoscaling is on (KubeRay's ENABLE_RANDOM_POD_DELETE)."""

    autoscaler_image: str | None = None
    """Image of the autoscaler sidecar; unset means the head container's image (as KubeRay does)."""


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment with explicit overrides (for example from CLI flags) on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
