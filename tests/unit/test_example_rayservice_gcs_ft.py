"""examples/08-rayservice-gcs-ft: a RayService whose head can die. Its Redis is the one its GCS options name, the
password matches, the head runs no replicas (so a head kill takes none down), and the app is 05's."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from rayop.api.rayservice import RayService

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def docs() -> dict[tuple[str, str], dict[str, Any]]:
    text = (EXAMPLES / "08-rayservice-gcs-ft" / "rayservice.yaml").read_text()
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(text) if d}


def service() -> dict[str, Any]:
    return docs()[("RayService", "version-ha")]


def test_the_rayservice_is_a_valid_ray_io_v1_rayservice_with_gcs_fault_tolerance() -> None:
    parsed = RayService.model_validate(service())
    options = parsed.spec.ray_cluster_config.gcs_fault_tolerance_options
    assert options is not None and options.redis_address == "redis:6379"


def test_the_redis_address_names_the_redis_service_and_its_port() -> None:
    host, port = service()["spec"]["rayClusterConfig"]["gcsFaultToleranceOptions"]["redisAddress"].split(":")
    svc = docs()[("Service", host)]
    assert [p["port"] for p in svc["spec"]["ports"]] == [int(port)]
    assert svc["spec"]["selector"] == docs()[("Deployment", host)]["spec"]["template"]["metadata"]["labels"]


def test_the_password_secret_holds_the_password_redis_requires() -> None:
    ref = service()["spec"]["rayClusterConfig"]["gcsFaultToleranceOptions"]["redisPassword"]["valueFrom"]
    secret = docs()[("Secret", ref["secretKeyRef"]["name"])]
    password = base64.b64decode(secret["data"][ref["secretKeyRef"]["key"]]).decode()
    conf = docs()[("ConfigMap", "redis-config")]["data"]["redis.conf"]
    assert f"requirepass {password}" in conf.splitlines()


def test_the_head_runs_no_replicas_and_the_worker_has_room_for_both() -> None:
    spec = service()["spec"]
    assert spec["rayClusterConfig"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    (worker,) = spec["rayClusterConfig"]["workerGroupSpecs"]
    (app,) = yaml.safe_load(spec["serveConfigV2"])["applications"]
    (deployment,) = app["deployments"]
    needed = deployment["num_replicas"] * deployment["ray_actor_options"]["num_cpus"]
    assert needed <= float(worker["rayStartParams"]["num-cpus"]) * worker["replicas"]


def test_the_app_code_is_the_same_as_the_rayservice_example() -> None:
    text = (EXAMPLES / "05-rayservice-local" / "rayservice.yaml").read_text()
    original = next(d for d in yaml.safe_load_all(text) if d and d["kind"] == "ConfigMap")
    assert docs()[("ConfigMap", "version-app")] == original
