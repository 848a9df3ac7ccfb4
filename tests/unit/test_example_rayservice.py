"""examples/05-rayservice-local: the two versions differ only where a blue/green upgrade needs them to, the serve
config is one Ray Serve accepts, and the app's code (shipped in the ConfigMap) builds an application."""

from __future__ import annotations

import copy
import types
from pathlib import Path
from typing import Any

import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "05-rayservice-local"


def docs(name: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all((EXAMPLE / name).read_text())}


def serve_config(service: dict[str, Any]) -> dict[str, Any]:
    return dict(yaml.safe_load(service["spec"]["serveConfigV2"]))


def test_v2_changes_only_the_app_version_and_the_image_tag() -> None:
    v1, v2 = docs("rayservice.yaml"), docs("rayservice-v2.yaml")
    assert v1["ConfigMap"] == v2["ConfigMap"]
    c1, c2 = serve_config(v1["RayService"]), serve_config(v2["RayService"])
    assert (c1["applications"][0]["args"], c2["applications"][0]["args"]) == ({"version": "v1"}, {"version": "v2"})
    c2["applications"][0]["args"] = c1["applications"][0]["args"]
    assert c1 == c2
    s1, s2 = copy.deepcopy(v1["RayService"]), copy.deepcopy(v2["RayService"])
    head1 = s1["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head2 = s2["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert (head1["image"], head2["image"]) == ("rayproject/ray:2.60.0", "rayproject/ray:2.60.0-py311")
    head2["image"] = head1["image"]
    del s1["spec"]["serveConfigV2"], s2["spec"]["serveConfigV2"]
    assert s1 == s2


def test_the_serve_config_is_valid_for_ray_serve() -> None:
    from ray.serve.schema import ServeDeploySchema

    for name in ("rayservice.yaml", "rayservice-v2.yaml"):
        config = ServeDeploySchema.model_validate(serve_config(docs(name)["RayService"]))
        assert config.applications[0].import_path == "version_app:app"


def test_the_head_runs_on_the_local_node_and_mounts_the_app_where_pythonpath_points() -> None:
    service = docs("rayservice.yaml")["RayService"]
    pod = service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"rayop.io/node-type": "local"}
    mount = pod["containers"][0]["volumeMounts"][0]
    assert pod["volumes"][0] == {"name": mount["name"], "configMap": {"name": "version-app"}}
    app = serve_config(service)["applications"][0]
    assert app["runtime_env"]["env_vars"]["PYTHONPATH"] == mount["mountPath"]


def test_the_shipped_app_builds_a_serve_application_from_its_args() -> None:
    from ray.serve.deployment import Application

    source = docs("rayservice.yaml")["ConfigMap"]["data"]["version_app.py"]
    module = types.ModuleType("version_app")
    exec(compile(source, "version_app.py", "exec"), module.__dict__)
    assert isinstance(module.app({"version": "v1"}), Application)
