"""CRDs come from one source, the pydantic models, and drift is caught."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from pydantic import Field

from rayop.api.base import ApiModel, CrdInfo, CustomResource, PrinterColumn, k8s_type
from rayop.api.types import crd_default, no_crd_default
from rayop.crdgen import generate
from rayop.crdgen.render import render_crd
from rayop.crdgen.structural import to_structural


class _Spec(ApiModel):
    replicas: int | None = None
    """How many."""

    mode: str = "Default"
    """A mode."""

    template: k8s_type("io.k8s.api.core.v1.PodTemplateSpec")  # type: ignore[valid-type]
    """The pod template."""


class _Widget(CustomResource):
    """A test resource."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        group="example.io", kind="Widget", plural="widgets", singular="widget",
        versions=("v1", "v1alpha1"), storage_version="v1",
        printer_columns=(PrinterColumn("replicas", ".spec.replicas", "integer"),),
    )
    spec: _Spec


class _GadgetSpec(ApiModel):
    retries: int | None = Field(default=None, json_schema_extra=crd_default(0))
    """Optional in Python, defaulted by the API server."""

    paused: bool = Field(default=False, json_schema_extra=no_crd_default)
    """False in Python, no default in the CRD."""


class _Gadget(CustomResource):
    """A test resource with an old, deprecated version."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        group="example.io", kind="Gadget", plural="gadgets", singular="gadget",
        versions=("v1", "v1alpha1"), storage_version="v1", deprecated_versions=("v1alpha1",),
    )
    spec: _GadgetSpec


@pytest.fixture(scope="module")
def k8s() -> Any:
    return generate.load_k8s_schemas()


def test_field_docstrings_become_descriptions(k8s: Any) -> None:
    schema = render_crd(_Widget, k8s)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["properties"]["spec"]["properties"]["replicas"]["description"] == "How many."


def test_optional_fields_are_plain_types_without_null(k8s: Any) -> None:
    schema = render_crd(_Widget, k8s)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["properties"]["spec"]["properties"]["replicas"]["type"] == "integer"
    assert "default" not in schema["properties"]["spec"]["properties"]["replicas"]


def test_embedded_pod_template_gets_the_real_kubernetes_schema(k8s: Any) -> None:
    schema = render_crd(_Widget, k8s)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    template = schema["properties"]["spec"]["properties"]["template"]
    containers = template["properties"]["spec"]["properties"]["containers"]
    assert containers["type"] == "array"
    assert "image" in containers["items"]["properties"]
    assert "x-kubernetes-preserve-unknown-fields" not in template


def test_quantities_are_int_or_string(k8s: Any) -> None:
    limits = k8s.resolve("io.k8s.api.core.v1.ResourceRequirements")["properties"]["limits"]
    assert limits["additionalProperties"]["x-kubernetes-int-or-string"] is True


def test_no_refs_remain_anywhere(k8s: Any) -> None:
    text = yaml.safe_dump(render_crd(_Widget, k8s))
    assert "$ref" not in text
    assert "allOf" not in text


def test_every_version_is_served_with_status_subresource_and_printer_columns(k8s: Any) -> None:
    versions = render_crd(_Widget, k8s)["spec"]["versions"]
    assert [(v["name"], v["served"], v["storage"]) for v in versions] == [("v1", True, True),
                                                                           ("v1alpha1", True, False)]
    assert all(v["subresources"] == {"status": {}} for v in versions)
    assert versions[0]["additionalPrinterColumns"][0]["jsonPath"] == ".spec.replicas"


def test_deprecated_versions_are_marked_deprecated_and_still_served(k8s: Any) -> None:
    versions = render_crd(_Gadget, k8s)["spec"]["versions"]
    assert [(v["name"], v["served"], v.get("deprecated", False)) for v in versions] == [("v1", True, False),
                                                                                        ("v1alpha1", True, True)]


def test_crd_default_overrides_the_python_default(k8s: Any) -> None:
    props = render_crd(_Gadget, k8s)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    assert props["spec"]["properties"]["retries"] == {"type": "integer", "default": 0,
                                                      "description": "Optional in Python, defaulted by the API server."}


def test_no_crd_default_keeps_the_python_default_out_of_the_crd(k8s: Any) -> None:
    props = render_crd(_Gadget, k8s)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    assert "default" not in props["spec"]["properties"]["paused"]
    assert _GadgetSpec().paused is False


def test_nullable_union_collapses_to_the_inner_type() -> None:
    schema = {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}, {"type": "null"}],
                                                     "default": None, "description": "d"}}}
    out = to_structural(schema, generate.load_k8s_schemas())
    assert out["properties"]["x"] == {"type": "string", "description": "d"}


def test_check_passes_right_after_generate(tmp_path: Path) -> None:
    (tmp_path / "crds").mkdir()
    generate.generate(tmp_path)
    assert generate.check(tmp_path) == []


def test_check_fails_when_a_model_changes_without_regeneration(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "crds").mkdir()
    generate.generate(tmp_path)
    monkeypatch.setattr(generate, "RESOURCES", (*generate.RESOURCES, f"{__name__}:_Widget"))
    problems = generate.check(tmp_path)
    assert any("widgets.yaml is missing" in p for p in problems)


def test_check_reports_a_hand_edited_crd_as_stale(tmp_path: Path) -> None:
    (tmp_path / "crds").mkdir()
    generate.generate(tmp_path)
    path = tmp_path / "crds" / "ray.io_rayclusters.yaml"
    path.write_text(path.read_text().replace("headGroupSpec", "headGroupSpecX", 1))
    problems = generate.check(tmp_path)
    assert any("is stale" in p for p in problems)


def test_committed_crds_match_the_models() -> None:
    assert generate.check() == []
