"""Type aliases shared by rayop's CRD models: int32/int64, quantities, timestamps, embedded Kubernetes types.

Embedded Kubernetes types are plain dicts at runtime and carry the structural schema of the pinned release in the
CRD (see :func:`rayop.api.base.k8s_type`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, WithJsonSchema

from rayop.api.base import CRD_DEFAULT_KEY, k8s_type
from rayop.api.quantity import QUANTITY_SCHEMA_PATTERN

#: Largest int32, KubeRay's default for ``maxReplicas``.
MAX_INT32 = 2_147_483_647

Int32 = Annotated[int, Field(json_schema_extra={"format": "int32"})]
Int64 = Annotated[int, Field(json_schema_extra={"format": "int64"})]
#: A Kubernetes resource.Quantity: an integer or a string such as ``"500m"`` / ``"1Gi"``.
Quantity = Annotated[
    int | str,
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_SCHEMA_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
# Embedded Kubernetes types: plain dicts at runtime, their structural schema in the CRD (see rayop.api.base).
if TYPE_CHECKING:
    EnvVarSource = dict[str, Any]
    ResourceRequirements = dict[str, Any]
    EnvVarList = list[dict[str, Any]]
    NetworkPolicyIngressRuleList = list[dict[str, Any]]
    NetworkPolicyEgressRuleList = list[dict[str, Any]]
    IngressTLSList = list[dict[str, Any]]
    PodTemplateSpec = dict[str, Any]
    Service = dict[str, Any]
    SecurityContext = dict[str, Any]
    EnvFromSourceList = list[dict[str, Any]]
    VolumeMountList = list[dict[str, Any]]
else:
    EnvVarSource = k8s_type("io.k8s.api.core.v1.EnvVarSource")
    ResourceRequirements = k8s_type("io.k8s.api.core.v1.ResourceRequirements")
    EnvVarList = k8s_type("io.k8s.api.core.v1.EnvVar", list_of=True)
    NetworkPolicyIngressRuleList = k8s_type("io.k8s.api.networking.v1.NetworkPolicyIngressRule", list_of=True)
    NetworkPolicyEgressRuleList = k8s_type("io.k8s.api.networking.v1.NetworkPolicyEgressRule", list_of=True)
    IngressTLSList = k8s_type("io.k8s.api.networking.v1.IngressTLS", list_of=True)
    PodTemplateSpec = k8s_type("io.k8s.api.core.v1.PodTemplateSpec")
    Service = k8s_type("io.k8s.api.core.v1.Service")
    SecurityContext = k8s_type("io.k8s.api.core.v1.SecurityContext")
    EnvFromSourceList = k8s_type("io.k8s.api.core.v1.EnvFromSource", list_of=True)
    VolumeMountList = k8s_type("io.k8s.api.core.v1.VolumeMount", list_of=True)
DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


def cel(*rules: tuple[str, str] | dict[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules; a tuple is ``(rule, message)``, a dict is used verbatim."""
    out = [r if isinstance(r, dict) else {"rule": r[0], "message": r[1]} for r in rules]
    return {"x-kubernetes-validations": out}


def crd_default(value: Any) -> dict[str, Any]:
    """``json_schema_extra`` giving the CRD the default ``value`` whatever the Python default is (KubeRay defaults
    some optional fields, e.g. RayJob ``backoffLimit`` to 0, and the API server must apply the same)."""
    return {CRD_DEFAULT_KEY: value}


def no_crd_default(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` that keeps a Python default out of the CRD, where KubeRay's CRD has none (a plain
    Go ``bool``), so stored objects look exactly like KubeRay's."""
    schema.pop("default", None)
