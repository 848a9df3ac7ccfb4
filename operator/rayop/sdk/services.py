"""RayService status, read generically from ``ray.io/v1 rayservices`` (KubeRay's status fields).

Until rayop has a RayService model this is a small typed view over the raw object: serviceStatus, the conditions,
the active and pending cluster names and the per-application statuses. Pure apart from :func:`get`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rayop.sdk.client import RAYSERVICES, Client


@dataclass(frozen=True)
class AppStatus:
    name: str
    status: str
    message: str = ""
    deployments: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterSide:
    """One side (active or pending) of a RayService."""

    ray_cluster_name: str | None
    applications: tuple[AppStatus, ...] = ()
    target_capacity: int | None = None
    traffic_routed_percent: int | None = None


@dataclass(frozen=True)
class ServiceStatus:
    namespace: str
    name: str
    service_status: str
    ready: bool
    conditions: tuple[dict[str, Any], ...]
    active: ClusterSide
    pending: ClusterSide
    num_serve_endpoints: int | None
    observed_generation: int | None

    def to_dict(self) -> dict[str, Any]:
        def side(s: ClusterSide) -> dict[str, Any]:
            return {"rayClusterName": s.ray_cluster_name, "targetCapacity": s.target_capacity,
                    "trafficRoutedPercent": s.traffic_routed_percent,
                    "applicationStatuses": {a.name: {"status": a.status, "message": a.message,
                                                     "serveDeploymentStatuses": a.deployments}
                                            for a in s.applications}}
        return {"namespace": self.namespace, "name": self.name, "serviceStatus": self.service_status,
                "ready": self.ready, "conditions": list(self.conditions), "activeServiceStatus": side(self.active),
                "pendingServiceStatus": side(self.pending), "numServeEndpoints": self.num_serve_endpoints,
                "observedGeneration": self.observed_generation}


def _side(raw: dict[str, Any] | None) -> ClusterSide:
    raw = raw or {}
    apps = []
    for app_name, app in sorted((raw.get("applicationStatuses") or {}).items()):
        deps = {d: str((v or {}).get("status") or "") for d, v in (app.get("serveDeploymentStatuses") or {}).items()}
        apps.append(AppStatus(app_name, str(app.get("status") or ""), str(app.get("message") or ""), deps))
    return ClusterSide(raw.get("rayClusterName") or None, tuple(apps), raw.get("targetCapacity"),
                       raw.get("trafficRoutedPercent"))


def summarize(obj: dict[str, Any]) -> ServiceStatus:
    """The status view of one RayService object."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    conditions = tuple(status.get("conditions") or [])
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ServiceStatus(
        namespace=meta.get("namespace") or "", name=meta.get("name") or "",
        service_status=status.get("serviceStatus") or ("Running" if ready else "NotRunning"),
        ready=ready, conditions=conditions,
        active=_side(status.get("activeServiceStatus")), pending=_side(status.get("pendingServiceStatus")),
        num_serve_endpoints=status.get("numServeEndpoints"), observed_generation=status.get("observedGeneration"))


def lines(s: ServiceStatus) -> list[str]:
    """Human-readable status, one fact per line."""
    out = [f"RayService {s.namespace}/{s.name}: {s.service_status}"
           + (f", {s.num_serve_endpoints} serve endpoints" if s.num_serve_endpoints is not None else "")]
    for c in s.conditions:
        out.append(f"  condition {c.get('type')}={c.get('status')} ({c.get('reason')})"
                   + (f": {c['message']}" if c.get("message") else ""))
    for label, side in (("active", s.active), ("pending", s.pending)):
        if side.ray_cluster_name is None and not side.applications:
            continue
        out.append(f"  {label} cluster {side.ray_cluster_name or '-'}")
        for app in side.applications:
            out.append(f"    app {app.name}: {app.status}" + (f" - {app.message}" if app.message else ""))
            out += [f"      deployment {d}: {st}" for d, st in sorted(app.deployments.items())]
    return out


def get(client: Client, name: str, namespace: str | None = None) -> ServiceStatus:
    return summarize(client.get(RAYSERVICES, name, namespace))
