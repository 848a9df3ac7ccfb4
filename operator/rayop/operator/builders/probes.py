"""Liveness and readiness probes of Ray containers, chosen by Ray version as KubeRay does.

Ray >= 2.53.0 has one HTTP health endpoint on the dashboard agent; older versions are probed with ``wget`` in
a shell.  Probes the user wrote are never replaced.  Workers of RayService clusters additionally check the
Serve proxy in their readiness probe, so traffic only reaches pods that can serve it.
"""

from __future__ import annotations

from typing import Any

from rayop.api.ray_version import version_at_least
from rayop.operator.builders import raystart

WGET_HEALTH = "wget --tries 1 -T {timeout} -q -O- http://localhost:{port}/{path} | grep success"
RAYLET_HEALTH_PATH = "api/local_raylet_healthz"
GCS_HEALTH_PATH = "api/gcs_healthz"
SERVE_PROXY_HEALTH_PATH = "-/healthz"
NODE_HEALTH_PATH = "/api/healthz"
UNIFIED_HEALTH_CHECK_VERSION = (2, 53, 0)

LIVENESS = {"initialDelaySeconds": 30, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 120}
READINESS = {"initialDelaySeconds": 10, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 10}
HEAD_TIMEOUT_SECONDS = 5
WORKER_TIMEOUT_SECONDS = 2
SERVE_READINESS_FAILURE_THRESHOLD = 1

def _port_param(params: dict[str, str], key: str, default: int) -> int:
    """A port from rayStartParams, falling back to the default when absent or not an int32."""
    try:
        port = int(params[key])
    except (KeyError, ValueError):
        return default
    return port if -(2**31) <= port < 2**31 else default


def find_container_port(container: dict[str, Any], name: str, default: int) -> int:
    """``containerPort`` of the port called ``name``, else ``default``."""
    for port in container.get("ports") or []:
        if port.get("name") == name:
            return int(port.get("containerPort", default))
    return default


def add_probes(
    container: dict[str, Any],
    *,
    is_head: bool,
    params: dict[str, str],
    ray_version: str | None,
    rayservice: bool,
) -> None:
    """KubeRay's ``initLivenessAndReadinessProbe`` applied to the Ray container in place."""
    agent_port = _port_param(
        params, "dashboard-agent-listen-port", raystart.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT
    )
    dashboard_port = _port_param(params, "dashboard-port", raystart.DEFAULT_DASHBOARD_PORT)
    http_check = version_at_least(ray_version, UNIFIED_HEALTH_CHECK_VERSION)
    commands = [WGET_HEALTH.format(timeout=WORKER_TIMEOUT_SECONDS, port=agent_port, path=RAYLET_HEALTH_PATH)]
    if is_head:
        # KubeRay passes the readiness failure threshold (10) as the wget timeout of the GCS check.
        commands.append(
            WGET_HEALTH.format(
                timeout=READINESS["failureThreshold"], port=dashboard_port, path=GCS_HEALTH_PATH
            )
        )
    timeout = HEAD_TIMEOUT_SECONDS if is_head else WORKER_TIMEOUT_SECONDS

    def action(cmds: list[str], use_http: bool) -> dict[str, Any]:
        if use_http:
            return {"httpGet": {"path": NODE_HEALTH_PATH, "port": agent_port}}
        return {"exec": {"command": ["bash", "-c", " && ".join(cmds)]}}

    if container.get("livenessProbe") is None:
        container["livenessProbe"] = {**LIVENESS, "timeoutSeconds": timeout, **action(commands, http_check)}
    if container.get("readinessProbe") is None:
        probe: dict[str, Any] = {**READINESS, "timeoutSeconds": timeout, **action(commands, http_check)}
        if rayservice and not is_head:
            serve_port = find_container_port(container, "serve", raystart.DEFAULT_SERVING_PORT)
            serve_cmd = WGET_HEALTH.format(
                timeout=READINESS["initialDelaySeconds"], port=serve_port, path=SERVE_PROXY_HEALTH_PATH
            )
            probe = {
                **READINESS,
                "timeoutSeconds": timeout,
                "failureThreshold": SERVE_READINESS_FAILURE_THRESHOLD,
                **action([*commands, serve_cmd], False),
            }
        container["readinessProbe"] = probe
