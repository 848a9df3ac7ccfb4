"""The REST API: Kubernetes-shaped paths over RayClusters, RayJobs and RayServices, as the caller.

Paths are the Kubernetes API's (``/apis/ray.io/v1/namespaces/{ns}/rayjobs[/{name}]``, as KubeRay's API server v2
proxies them), bodies are the objects themselves (the project's models, so /docs shows their schema), lists take
``labelSelector``, ``limit`` and ``continue`` and return ``metadata.continue``. ``.../rayjobs/{name}/log`` streams
the job's driver output (``follow=true`` until the verdict). Every request needs a bearer token; see auth.py for
how the caller's RBAC decides. Errors are ``Status`` objects (``code``, ``reason``, ``message``) like the API
server's, carrying its message.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations, which name local aliases.
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rayop.api.raycluster import RayCluster
from rayop.api.rayjob import RayJob
from rayop.restapi.auth import AuthError, Authorizer, Caller, bearer
from rayop.sdk import errors, jobs
from rayop.sdk.client import BY_PLURAL, RAYJOBS, Client

PREFIX = "/apis/ray.io/v1/namespaces/{namespace}"
CREATED_BY = "rayop.io/created-by"


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message}


def create_app(client: Client) -> FastAPI:
    """The app, acting through ``client`` (the API's own identity) after each caller's review."""
    app = FastAPI(title="rayop API", version="v1",
                  description="RayClusters, RayJobs and RayServices (ray.io/v1) for clients that do not speak "
                              "Kubernetes. Send `Authorization: Bearer <Kubernetes token>`; RBAC decides.")
    authorizer = Authorizer(client)

    @app.exception_handler(AuthError)
    def _auth(_: Request, exc: AuthError) -> JSONResponse:
        reason = "Unauthorized" if exc.code == 401 else "Forbidden"
        return JSONResponse(status_body(exc.code, reason, exc.message), status_code=exc.code)

    @app.exception_handler(errors.ApiError)
    def _api(_: Request, exc: errors.ApiError) -> JSONResponse:
        code = exc.status or 500
        return JSONResponse(status_body(code, exc.reason or type(exc).__name__, exc.message), status_code=code)

    @app.exception_handler(errors.RayopError)
    def _sdk(_: Request, exc: errors.RayopError) -> JSONResponse:
        return JSONResponse(status_body(503, "ServiceUnavailable", str(exc)), status_code=503)

    def caller(authorization: Annotated[str | None, Header()] = None) -> Caller:
        return authorizer.authenticate(bearer(authorization))

    Who = Annotated[Caller, Depends(caller)]

    def allow(who: Caller, verb: str, plural: str, ns: str, name: str = "", sub: str = "") -> None:
        authorizer.authorize(who, verb, plural, ns, name, sub)

    def add_kind(plural: str, model: type[Any] | None) -> None:
        res = BY_PLURAL[plural]
        body_type: Any = model if model is not None else dict[str, Any]

        def list_objects(namespace: str, who: Who,
                         label_selector: Annotated[str | None, Query(alias="labelSelector")] = None,
                         limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
                         continue_: Annotated[str | None, Query(alias="continue")] = None) -> dict[str, Any]:
            allow(who, "list", plural, namespace)
            return client.list_page(res, namespace, label_selector=label_selector, limit=limit, continue_=continue_)

        def create_object(namespace: str, who: Who, body: Annotated[body_type, Body()]) -> JSONResponse:
            allow(who, "create", plural, namespace)
            wire = body.to_wire() if model is not None else dict(body)
            meta = wire.setdefault("metadata", {})
            meta["namespace"] = namespace
            meta.setdefault("annotations", {})[CREATED_BY] = who.username
            return JSONResponse(client.create(res, wire, namespace), status_code=201)

        def get_object(namespace: str, name: str, who: Who) -> dict[str, Any]:
            allow(who, "get", plural, namespace, name)
            return client.get(res, name, namespace)

        def patch_object(namespace: str, name: str, who: Who,
                         patch: Annotated[dict[str, Any], Body(description="JSON merge patch")]) -> dict[str, Any]:
            allow(who, "patch", plural, namespace, name)
            return client.patch(res, name, patch, namespace)

        def delete_object(namespace: str, name: str, who: Who) -> dict[str, Any]:
            allow(who, "delete", plural, namespace, name)
            return client.delete(res, name, namespace)

        kind = res.kind
        routes: list[tuple[str, str, Callable[..., Any], str]] = [
            ("GET", f"{PREFIX}/{plural}", list_objects, f"List {kind}s"),
            ("POST", f"{PREFIX}/{plural}", create_object, f"Create a {kind}"),
            ("GET", f"{PREFIX}/{plural}/{{name}}", get_object, f"Read a {kind}"),
            ("PATCH", f"{PREFIX}/{plural}/{{name}}", patch_object, f"Merge-patch a {kind}"),
            ("DELETE", f"{PREFIX}/{plural}/{{name}}", delete_object, f"Delete a {kind}"),
        ]
        for method, path, fn, summary in routes:
            app.add_api_route(path, fn, methods=[method], summary=summary, tags=[plural],
                              operation_id=f"{method.lower()}_{plural}_{'item' if '{name}' in path else 'collection'}")

    add_kind("rayclusters", RayCluster)
    add_kind("rayjobs", RayJob)
    add_kind("rayservices", None)  # no RayService model on this branch yet: the object is passed through

    @app.get(f"{PREFIX}/rayjobs/{{name}}/log", tags=["rayjobs"], summary="Stream a RayJob's driver output",
             response_class=StreamingResponse)
    def job_log(namespace: str, name: str, who: Who, follow: bool = False) -> StreamingResponse:
        allow(who, "get", "rayjobs", namespace, name)
        client.get(RAYJOBS, name, namespace)  # 404 before the stream starts

        def stream() -> Iterator[str]:
            if not follow:
                yield jobs.logs(client, name, namespace)
                return
            yield from jobs.output_chunks(client, name, namespace, _quiet(), float("inf"))
            v = jobs.Verdict(jobs.get(client, name, namespace))
            detail = f" - {v.message}" if v.message and not v.ok else ""
            yield f"\nRayJob {namespace}/{name}: {v.job_status}{detail}\n"

        return StreamingResponse(stream(), media_type="text/plain")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _quiet() -> Any:
    from rayop.sdk.progress import Progress

    return Progress("", quiet=True)
