"""Conventions shared by every rayop CRD model.

The pydantic models in :mod:`rayop.api` are the single source of truth for rayop's CRDs: the operator parses
``spec`` into them, and ``rayop crds generate`` turns them into ``crds/*.yaml``.  To make that possible, every model
follows a few rules that this module encodes:

* Python attributes are snake_case, the wire format is KubeRay's camelCase (``alias_generator``); either
  spelling is accepted when parsing so builders and tests can construct models naturally.
* Attribute docstrings become field descriptions (``use_attribute_docstrings``) so ``kubectl explain`` is useful.
* Unknown fields are ignored: the API server prunes them anyway, and the operator must never crash on user input.
* Embedded Kubernetes types (PodTemplateSpec, Service, ...) are kept as plain dicts at runtime, but carry a marker
  (:func:`k8s_type`) that the CRD generator replaces with the real structural schema of the pinned Kubernetes
  release, so the API server validates them exactly as it validates a Pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel

#: JSON-schema key that marks an embedded Kubernetes type; the value is its OpenAPI definition name.
K8S_REF_KEY = "x-rayop-k8s-type"
#: JSON-schema key carrying the default the API server applies (``default`` of the CRD), for fields whose Python
#: default differs from it, e.g. an optional ``int | None`` that KubeRay's CRD defaults to 0.
CRD_DEFAULT_KEY = "x-rayop-crd-default"


def k8s_type(definition: str, *, list_of: bool = False) -> Any:
    """An embedded Kubernetes type, e.g. ``k8s_type("io.k8s.api.core.v1.PodTemplateSpec")``.

    At runtime the value is a plain ``dict`` (builders deep-copy and patch it); in the CRD it is the structural
    schema of ``definition`` taken from the pinned Kubernetes release's OpenAPI document.
    """
    marker = {K8S_REF_KEY: definition}
    if list_of:
        return Annotated[list[dict[str, Any]], WithJsonSchema({"type": "array", "items": marker})]
    return Annotated[dict[str, Any], WithJsonSchema(marker)]


class ApiModel(BaseModel):
    """Base of every spec/status model: camelCase on the wire, docstrings as descriptions, unknown keys ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        extra="ignore",
        frozen=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, unset fields omitted."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry of a CRD version."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class CrdInfo:
    """Everything about a CRD that is not the schema itself."""

    group: str
    kind: str
    plural: str
    singular: str
    versions: tuple[str, ...]
    storage_version: str
    #: Versions still served but marked ``deprecated`` (the API server warns clients that use them).
    deprecated_versions: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("all",)
    printer_columns: tuple[PrinterColumn, ...] = ()
    scope: str = "Namespaced"
    #: Extra top-level validation rules (x-kubernetes-validations) on the whole object's spec.
    extra: dict[str, Any] = field(default_factory=dict)
    #: The ``scale`` subresource (specReplicasPath, statusReplicasPath, labelSelectorPath), for an HPA's target.
    scale: dict[str, str] | None = None


class CustomResource(ApiModel):
    """A top-level custom resource: subclasses set ``crd`` and define ``spec`` (and usually ``status``)."""

    crd: ClassVar[CrdInfo]

    if TYPE_CHECKING:
        metadata: dict[str, Any]

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Self:
        """Parse an object as read from the API server; raises pydantic.ValidationError on bad input."""
        return cls.model_validate(obj)

    @property
    def name(self) -> str:
        """metadata.name."""
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        """metadata.namespace ("default" when unset, like KubeRay's GetNamespace)."""
        return str(self.metadata.get("namespace") or "default")

    @property
    def uid(self) -> str:
        """metadata.uid ("" before the object is stored)."""
        return str(self.metadata.get("uid") or "")

    @property
    def generation(self) -> int:
        """metadata.generation (0 before the object is stored)."""
        return int(self.metadata.get("generation") or 0)

    @property
    def annotations(self) -> dict[str, str]:
        """metadata.annotations (empty dict when unset)."""
        return dict(self.metadata.get("annotations") or {})

    @property
    def labels(self) -> dict[str, str]:
        """metadata.labels (empty dict when unset)."""
        return dict(self.metadata.get("labels") or {})
