"""The autoscaler sidecar's one typed settings object.

Flags of ``rayop autoscaler`` override environment variables, which override the defaults below. The environment
is how a user tunes the sidecar without replacing its command: ``autoscalerOptions.env`` of the RayCluster is
appended to the container, so ``{name: RAYOP_AUTOSCALER_UNSCHEDULABLE_SECONDS, value: "30"}`` there is enough.
``AUTOSCALER_UPDATE_INTERVAL_S`` (Ray's own variable) is honoured for the loop period, so a manifest written for
Ray's autoscaler keeps its meaning. Nothing else in the autoscaler reads the environment.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from rayop.autoscaler.state import DEFAULT_BLOCK_S, DEFAULT_UNSCHEDULABLE_BOUND_S

#: Ray's ``AUTOSCALER_METRIC_PORT``.
DEFAULT_METRICS_PORT = 44217


class AutoscalerSettings(BaseSettings):
    """Sidecar settings (env prefix ``RAYOP_AUTOSCALER_``)."""

    model_config = SettingsConfigDict(env_prefix="RAYOP_AUTOSCALER_", extra="ignore", populate_by_name=True)

    period_seconds: float = Field(
        default=5.0, gt=0,
        validation_alias=AliasChoices("RAYOP_AUTOSCALER_PERIOD_SECONDS", "AUTOSCALER_UPDATE_INTERVAL_S",
                                      "period_seconds"))
    """Seconds between passes (Ray's default is 5 s too)."""

    unschedulable_seconds: float = Field(default=DEFAULT_UNSCHEDULABLE_BOUND_S, ge=0)
    """Pods asked for that stay Unschedulable longer than this are given up and another group is tried."""

    block_seconds: float = Field(default=DEFAULT_BLOCK_S, ge=0)
    """How long a group whose pods were unschedulable gets no new nodes."""

    metrics_port: int = Field(default=DEFAULT_METRICS_PORT, ge=0)
    """Prometheus port of the sidecar; 0 disables it."""

    head_pod_name: str | None = Field(default=None,
                                      validation_alias=AliasChoices("RAY_HEAD_POD_NAME", "head_pod_name"))
    """The head pod (the operator sets ``RAY_HEAD_POD_NAME`` on the sidecar): ties the head's Ray node to its pod and
    names the event source."""

    gcs_wait_seconds: float = Field(default=0.0, ge=0)
    """How long to wait for GCS at start; 0 waits forever, like ``ray kuberay-autoscaler`` (exiting would leave a
    ``restartPolicy: Never`` head pod unready for good)."""
