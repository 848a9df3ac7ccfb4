"""The RayService controller: gather what the caches and the Serve poller show, let :mod:`rayop.serve_rollout`
decide (pure), write the status, carry out the decision's actions (:mod:`.actions`).

Restart safety: which cluster is active or pending is in the status (a new pending name is written before its
cluster is created); which spec and which serve config each cluster carries, and when a drained cluster may go, are
annotations on that cluster; which cluster takes traffic is the Services' selector. A restarted operator reads all of
it back and resumes the same rollout. Ray Serve is called only from the poller and from one-shot background calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from pydantic import ValidationError

from rayop.api import labels as L
from rayop.api.rayservice import ConditionReason as R
from rayop.api.rayservice import ConditionType as T
from rayop.api.rayservice import RayService
from rayop.kube.client import ApiError, NotFound
from rayop.kube.informers import Resource
from rayop.operator.builders.rayservice import head_service_name, serve_service_name
from rayop.operator.raycluster.children import PODS
from rayop.operator.raycluster.controller import OPERATOR_VERSION
from rayop.operator.runtime.controller import (
    Key,
    Result,
    Watch,
    managed_here,
    needs_pass_on_change,
    owner_by_label,
    owner_by_reference,
)
from rayop.operator.runtime.oneshot import OneShot
from rayop.operator.runtime.poller import Poller
from rayop.operator.runtime.runner import Context
from rayop.operator.runtime.status import spec_valid_condition, status_differs
from rayop.serve_rollout import model as M
from rayop.serve_rollout.rollout import plan

from . import actions, lifecycle
from . import status as S
from .lifecycle import SERVICES, replacing
from .observe import ABANDONED, cluster_view, desired_of, head_pod, rfc3339
from .serve_api import PROXY_ATTEMPTS, HttpServeApi, ServeState, poll_cluster
from .validation import validate_rayservice

logger = logging.getLogger("rayop.rayservice")

FINALIZER = L.RAYSERVICE_FINALIZER
RAYCLUSTERS = Watch(Resource("ray.io/v1", "rayclusters"), owner_by_reference("RayService"))
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: The serve Services' EndpointSlices (they carry their Service's labels): what numServeEndpoints counts.
SLICES = Watch(Resource("discovery.k8s.io/v1", "endpointslices", f"{L.RAY_ORIGINATED_FROM_CRD}={L.CRD_RAYSERVICE}"),
               owner_by_label(L.RAY_ORIGINATED_FROM_CR_NAME), index_labels=(SERVICE_NAME_LABEL,))
GATEWAY_CRD = "gatewayclasses.gateway.networking.k8s.io"
COMPARED = ("serviceStatus", "numServeEndpoints", "activeServiceStatus", "pendingServiceStatus",
            "observedGeneration")
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def count_endpoints(slices: Sequence[dict[str, Any]]) -> int:
    """KubeRay's numServeEndpoints: unique ready pods (by targetRef uid) in the serve Service's EndpointSlices."""
    uids = set()
    for sl in slices:
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            ref = ep.get("targetRef") or {}
            uids.add(ref.get("uid") or ",".join(ep.get("addresses") or []))
    return len(uids)


def _strip_times(side: Any) -> Any:
    if isinstance(side, dict):
        return {k: _strip_times(v) for k, v in side.items() if k != "rayClusterStatus"}
    return side


@dataclass
class Pass:
    """What one pass works on (handed to :mod:`.actions`)."""

    svc: RayService
    body: dict[str, Any]
    key: Key
    desired: M.Desired
    services: dict[str, dict[str, Any]]

    @property
    def ns(self) -> str:
        return self.svc.namespace


class RayServiceController:
    """``ray.io/v1`` RayService, as KubeRay's ``RayServiceReconciler`` with a restart-safe rollout."""

    resource: ClassVar[Resource] = Resource("ray.io/v1", "rayservices")
    kind: ClassVar[str] = "RayService"
    component: ClassVar[str] = "rayservice-controller"
    finalizer: ClassVar[str | None] = FINALIZER

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.rayservice
        self.options = ctx.settings.raycluster.build_options(OPERATOR_VERSION)
        self.clusters = ctx.runtime.informers.get(RAYCLUSTERS.resource)
        self.pods = ctx.runtime.informers.get(PODS.resource, index_labels=PODS.index_labels)
        self.poller: Poller[ServeState] = Poller(self._wake_polled, max_in_flight=self.settings.max_polls_in_flight)
        self.poller.start()
        self.calls = OneShot(ctx.wake, max_in_flight=self.settings.max_polls_in_flight,
                             timeout=max(10.0, self.settings.http_timeout_seconds * 5))
        self._session: aiohttp.ClientSession | None = None
        self._gateway: tuple[float, bool] | None = None
        #: Poll targets (namespace, RayService, cluster) registered with the poller, to forget them later.
        self._polled: set[tuple[str, str, str]] = set()
        #: The serve-config PUT in flight (or finished, not yet recorded) per (RayService key, cluster): its purpose.
        self.applying: dict[tuple[Key, str], str] = {}

    # -- the contract ---------------------------------------------------------------------------------------------
    def watches(self) -> Sequence[Watch]:
        return (RAYCLUSTERS, SERVICES, SLICES,
                Watch(PODS.resource, self._service_of_pod, index_labels=PODS.index_labels))

    def is_mine(self, obj: dict[str, Any]) -> bool:
        return managed_here(obj)

    def needs_pass(self, old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
        return needs_pass_on_change(old, new)

    def forget(self, key: Key, obj: dict[str, Any]) -> None:
        self.ctx.metrics.forget_service(key[1], key[0], obj.get("metadata", {}).get("uid", ""))
        for target in [k for k in self._poll_keys() if k[:2] == key]:
            self.poller.forget(target)
            self._polled.discard(target)
        self.calls.forget(key)
        for slot in [s for s in self.applying if s[0] == key]:
            del self.applying[slot]

    async def close(self) -> None:
        await self.poller.close()
        await self.calls.close()
        if self._session is not None:
            await self._session.close()

    def _poll_keys(self) -> list[tuple[str, str, str]]:
        return [k for k in self._polled if k in self.poller]

    def _wake_polled(self, key: object) -> None:
        assert isinstance(key, tuple)
        self.ctx.wake((str(key[0]), str(key[1])))

    def _service_of_pod(self, pod: dict[str, Any]) -> Key | None:
        meta = pod.get("metadata", {})
        name = (meta.get("labels") or {}).get(L.RAY_CLUSTER)
        cluster = self.clusters.get(meta.get("namespace", ""), name) if name else None
        return owner_by_reference("RayService")(cluster) if cluster is not None else None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.max_polls_in_flight * 2))
        return self._session

    def serve_target(self, ns: str, cluster_name: str) -> tuple[str, str] | None:
        """(dashboard URL, head proxy URL) of a cluster, by its head pod's IP; None while it has none."""
        cluster = self.clusters.get(ns, cluster_name)
        head = head_pod(self.pods.by_index(ns, cluster_name, L.RAY_CLUSTER))
        ip = (head.get("status") or {}).get("podIP") if head else None
        if cluster is None or not ip:
            return None
        endpoints = (cluster.get("status") or {}).get("endpoints") or {}
        dashboard = int(endpoints.get("dashboard", 8265))
        serve = int(endpoints.get("serve", 8000))
        return f"http://{ip}:{dashboard}", f"http://{ip}:{serve}"

    # -- passes ---------------------------------------------------------------------------------------------------
    async def reconcile(self, body: dict[str, Any]) -> Result:
        meta = body["metadata"]
        try:
            svc = RayService.parse(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ()))
            return await lifecycle.report_invalid(self, body, f"spec.{where}: {err.get('msg')}")
        problems = validate_rayservice(svc)
        if problems:
            reason = "InvalidRayServiceMetadata" if problems[0].path.startswith("metadata") else "InvalidRayServiceSpec"
            return await lifecycle.report_invalid(self, body, problems[0].message, reason)
        prev = body.get("status") or {}
        now = dt.datetime.now(dt.UTC)
        suspended = await lifecycle.suspend_flow(self, svc, body, prev, now)
        if suspended is not None:
            return suspended
        if S.reason_of(prev, T.READY) == R.INITIALIZING_TIMEOUT:
            return await lifecycle.delete_all(self, body, svc, "the RayService failed to initialize in time")
        timed_out = await lifecycle.initializing_timeout(self, svc, body, prev, now)
        if timed_out is not None:
            return timed_out
        return await self._rollout(svc, body, prev, now, (meta["namespace"], meta["name"]))

    async def _rollout(self, svc: RayService, body: dict[str, Any], prev: dict[str, Any], now: dt.datetime,
                       key: Key) -> Result:
        ns = svc.namespace
        desired = desired_of(svc, default_timeout_s=self.settings.upgrade_timeout_seconds,
                             zero_downtime_default=self.settings.zero_downtime,
                             gateway_available=await self._gateway_available(svc))
        owned = {c["metadata"]["name"]: c for c in self.clusters.owned_by(ns, svc.uid)}
        views = {name: cluster_view(c, self.pods.by_index(ns, name, L.RAY_CLUSTER), self._poll(key, c))
                 for name, c in owned.items()}
        services_cache = await self.ctx.cache(SERVICES)
        services = {s["metadata"]["name"]: s for s in services_cache.owned_by(ns, svc.uid)}
        active = (prev.get("activeServiceStatus") or {}).get("rayClusterName")
        pending = (prev.get("pendingServiceStatus") or {}).get("rayClusterName")
        capacity = None
        starting = active in views and views[active].cluster_hash != desired.cluster_hash
        if self.settings.capacity_check and starting and pending not in owned:
            capacity = await self._capacity(svc)  # an upgrade is about to create its cluster: will it fit?
        slices = (await self.ctx.cache(SLICES)).by_index(ns, serve_service_name(svc), SERVICE_NAME_LABEL)
        observed = M.Observed(endpoint_clusters=self._endpoint_clusters(ns, slices), active=active, pending=pending,
                              serving=self._serving(svc, services), clusters=views,
                              now=now, fresh_name=f"{svc.name}-{''.join(secrets.choice(_ALPHABET) for _ in range(5))}",
                              abandoned_goal=svc.annotations.get(ABANDONED), capacity=capacity)
        decision = plan(desired, observed)
        p = Pass(svc, body, key, desired, services)
        status = self._status(svc, prev, decision, views, owned, desired, observed,
                              count_endpoints(slices) if observed.serving else 0)
        if decision.write_first:
            await self.ctx.status.write(body, {**replacing(prev, status), "lastUpdateTime": rfc3339(now)})
            body = {**body, "status": {**prev, **status}}
            p.body = body
        result = Result.requeue(decision.requeue_after) if decision.requeue_after is not None else Result.done()
        for action in decision.actions:
            result = result.sooner(await actions.run(self, p, action))
        await self._serve_labels(svc, body, (decision.active, decision.pending), key)
        for target in [k for k in self._poll_keys() if k[:2] == key and k[2] not in (decision.active,
                                                                                        decision.pending)]:
            self.poller.forget(target)
            self._polled.discard(target)
        self.ctx.metrics.observe_service(svc.name, ns, svc.uid, S.conditions_by_type(status))
        if not decision.write_first and status_differs(_strip_times(prev), _strip_times(status), COMPARED):
            await self.ctx.status.write(body, {**replacing(prev, status), "lastUpdateTime": rfc3339(now)})
        return result.sooner(Result.requeue(self.settings.requeue_seconds))

    def _status(self, svc: RayService, prev: dict[str, Any], decision: M.Plan, views: dict[str, M.ClusterView],
                owned: dict[str, dict[str, Any]], desired: M.Desired, observed: M.Observed,
                ready_endpoints: int) -> dict[str, Any]:
        previous = S.conditions_by_type(prev)
        generation = svc.generation
        now = rfc3339(observed.now)
        serving = observed.serving
        endpoints = ready_endpoints if serving and serving in (decision.active, decision.pending) else 0
        abandon = [a for a in decision.actions if isinstance(a, M.AbandonUpgrade)]
        goal = desired.goal
        abandoned = abandon[0].message if abandon else (
            previous.get(S.ABANDONED, {}).get("message") if observed.abandoned_goal == goal
            and S.is_true(prev, S.ABANDONED) else None)
        if abandoned is None and observed.abandoned_goal == goal:
            abandoned = "the last upgrade to this spec missed its deadline; change the spec to try again"
        shortfall = next((a.message for a in decision.actions if isinstance(a, M.ReportCapacityShortfall)), None)
        unsupported = next((a.message for a in decision.actions if isinstance(a, M.ReportUnsupported)), None)
        ever_ready = S.reason_of(prev, T.READY) in (R.NON_ZERO_SERVE_ENDPOINTS, R.ZERO_SERVE_ENDPOINTS)
        conds = S.rollout_conditions(previous, generation, now, active=decision.active, pending=decision.pending,
                                     endpoints=endpoints, abandoned=abandoned, shortfall=shortfall,
                                     unsupported=unsupported, ever_ready=ever_ready)
        valid = spec_valid_condition(prev, generation, now)
        if valid is not None:
            conds.append(valid)
        ready = any(c["type"] == T.READY and c["status"] == "True" for c in conds)

        def one_side(name: str | None, field: str) -> dict[str, Any]:
            view = views.get(name) if name else None
            cluster = owned.get(name) if name else None
            return S.side(name, view.apps if view else None, (cluster or {}).get("status"), prev.get(field))

        return {"activeServiceStatus": one_side(decision.active, "activeServiceStatus"),
                "pendingServiceStatus": one_side(decision.pending, "pendingServiceStatus"),
                "numServeEndpoints": endpoints, "serviceStatus": "Running" if ready else "",
                "conditions": conds, "observedGeneration": generation}

    def _endpoint_clusters(self, ns: str, slices: Sequence[dict[str, Any]]) -> frozenset[str]:
        """Clusters whose pods the serve Service's EndpointSlices still list (a switch not yet propagated)."""
        out = set()
        for sl in slices:
            for ep in sl.get("endpoints") or []:
                ref = ep.get("targetRef") or {}
                pod = self.pods.get(ns, ref.get("name", "")) if ref.get("kind") == "Pod" else None
                name = ((pod or {}).get("metadata", {}).get("labels") or {}).get(L.RAY_CLUSTER)
                if name:
                    out.add(name)
        return frozenset(out)

    def _serving(self, svc: RayService, services: dict[str, dict[str, Any]]) -> str | None:
        """The cluster both Services select; None if either is missing or they disagree (a switch half done)."""
        head = services.get(head_service_name(svc))
        serve = services.get(serve_service_name(svc))
        if head is None or serve is None:
            return None
        chosen = {((s.get("spec") or {}).get("selector") or {}).get(L.RAY_CLUSTER) for s in (head, serve)}
        return chosen.pop() if len(chosen) == 1 else None

    def _poll(self, key: Key, cluster: dict[str, Any]) -> ServeState | None:
        name = cluster["metadata"]["name"]
        target = self.serve_target(key[0], name)
        if target is None or cluster["metadata"].get("deletionTimestamp"):
            return None
        pkey = (key[0], key[1], name)
        self._polled.add(pkey)
        api = HttpServeApi(target[0], target[1], self.session(), self.settings.http_timeout_seconds)
        self.poller.ensure(pkey, lambda: poll_cluster(api), interval=self.settings.poll_interval_seconds,
                           timeout=self.settings.http_timeout_seconds * (PROXY_ATTEMPTS + 1) + 2)
        latest = self.poller.latest(pkey)
        return latest.value if latest is not None and latest.ok else None

    async def _serve_labels(self, svc: RayService, body: dict[str, Any], names: tuple[str | None, ...],
                            key: Key) -> None:
        for name in names:
            if not name:
                continue
            head = head_pod(self.pods.by_index(svc.namespace, name, L.RAY_CLUSTER))
            if head is None:
                continue
            latest = self.poller.latest((key[0], key[1], name))
            healthy = bool(latest and latest.ok and latest.value and latest.value.proxy_healthy)
            wanted = L.SERVE_TRUE if healthy and not svc.spec.exclude_head_pod_from_serve_svc else L.SERVE_FALSE
            if (head["metadata"].get("labels") or {}).get(L.RAY_SERVE) != wanted:
                await actions.set_head_serve_label(self, body, head, wanted)

    async def _gateway_available(self, svc: RayService) -> bool:
        """Whether a Gateway API implementation is installed (its GatewayClass CRD), looked up once a minute."""
        if svc.spec.upgrade_type() != "NewClusterWithIncrementalUpgrade":
            return False
        if self._gateway is not None and time.monotonic() - self._gateway[0] < 60:
            return self._gateway[1]
        try:
            await self.ctx.client.get("apiextensions.k8s.io/v1", "customresourcedefinitions", GATEWAY_CRD)
            found = True
        except NotFound:
            found = False
        except ApiError as exc:
            logger.info("cannot look up %s: %s", GATEWAY_CRD, exc.message)
            found = False
        self._gateway = (time.monotonic(), found)
        return found

    async def _capacity(self, svc: RayService) -> M.Capacity | None:
        from rayop.serve_rollout.capacity import check, node_room

        from .observe import cluster_demands

        try:
            nodes = await self.ctx.client.list("v1", "nodes")
            pods = await self.ctx.client.list("v1", "pods")
        except ApiError as exc:
            logger.info("capacity check skipped (cannot list nodes or pods: %s)", exc.message)
            return None
        bound: dict[str, list[dict[str, Any]]] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                bound.setdefault(node, []).append(pod)
        rooms = [node_room(n, bound.get(n["metadata"]["name"], [])) for n in nodes]
        return check(cluster_demands(svc.spec.ray_cluster_config), rooms)

    async def finalize(self, body: dict[str, Any]) -> Result:
        """``ray.io/rayservice-finalizer``: the RayService goes only once its clusters are gone (bounded by the
        runtime's finalizer deadline)."""
        try:
            svc = RayService.parse(body)
        except ValidationError:
            return Result.done()
        return await lifecycle.delete_all(self, body, svc, "the RayService is being deleted", services=True)

