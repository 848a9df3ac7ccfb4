"""Turn JSON schemas (pydantic's, and Kubernetes' OpenAPI v3) into structural CRD schemas.

A CRD schema must be *structural*: no ``$ref``, a ``type`` on every node, no ``oneOf`` of types, defaults only where
the API server should apply them. pydantic and the Kubernetes OpenAPI document both use references, nullable unions
and ``oneOf`` shapes, so every schema passes through :func:`to_structural` before it lands in a CRD.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from rayop.api.base import CRD_DEFAULT_KEY, K8S_REF_KEY

Schema = dict[str, Any]

#: Keys of the Kubernetes OpenAPI document that have no meaning (or are invalid) inside a CRD schema.
_DROP_K8S_KEYS = {
    "x-kubernetes-group-version-kind",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-unions",
    "default",
}

_INT_OR_STRING: Schema = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
}

#: Embedded ObjectMeta only keeps what a template may set (as controller-gen does for embedded resources).
_EMBEDDED_OBJECT_META: Schema = {
    "type": "object",
    "properties": {
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "name": {"type": "string"},
        "namespace": {"type": "string"},
    },
}

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


class K8sSchemas:
    """Structural schemas of Kubernetes types, from a snapshot of the pinned release's OpenAPI v3 components."""

    def __init__(self, components: dict[str, Schema]) -> None:
        self._components = components
        self._cache: dict[str, Schema] = {}

    def resolve(self, name: str) -> Schema:
        if name not in self._cache:
            self._cache[name] = self._convert(name, ())
        return copy.deepcopy(self._cache[name])

    def _convert(self, name: str, stack: tuple[str, ...]) -> Schema:
        if name == OBJECT_META:
            return copy.deepcopy(_EMBEDDED_OBJECT_META)
        if name in (QUANTITY, INT_OR_STRING):
            return copy.deepcopy(_INT_OR_STRING)
        if name in stack:
            # A recursive type (none in the core workload types); stop with an open object.
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if name not in self._components:
            raise KeyError(f"Kubernetes type {name} is not in the OpenAPI snapshot")
        return self._node(self._components[name], (*stack, name))

    def _node(self, node: Schema, stack: tuple[str, ...]) -> Schema:
        ref = _ref_name(node)
        if ref is not None:
            return self._convert(ref, stack)
        if node.get("format") == "int-or-string":
            return copy.deepcopy(_INT_OR_STRING)
        out: Schema = {}
        for key, value in node.items():
            if key in _DROP_K8S_KEYS or key == "description":
                continue
            if key == "properties":
                out[key] = {k: self._node(v, stack) for k, v in value.items()}
            elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
                out[key] = self._node(value, stack)
            elif key in ("oneOf", "anyOf"):
                out.update(_INT_OR_STRING)
            else:
                out[key] = value
        if "type" not in out and "x-kubernetes-int-or-string" not in out:
            out["type"] = "object"
        if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
            out["x-kubernetes-preserve-unknown-fields"] = True
        return out


def _ref_name(node: Schema) -> str | None:
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        return str(all_of[0]["$ref"]).rsplit("/", 1)[-1]
    return None


def to_structural(schema: Schema, k8s: K8sSchemas) -> Schema:
    """A pydantic JSON schema (with ``$defs``) as one inlined structural schema."""
    defs: dict[str, Schema] = schema.get("$defs", {})

    def convert(node: Schema) -> Schema:
        if K8S_REF_KEY in node:
            out = k8s.resolve(node[K8S_REF_KEY])
            if "description" in node:
                out["description"] = node["description"]
            return out
        ref = _ref_name(node)
        if ref is not None:
            inner = convert(defs[ref])
            for key in ("description", "x-kubernetes-validations"):
                if key in node:
                    inner[key] = node[key]
            return inner
        variants = node.get("anyOf")
        if variants is not None:
            non_null = [v for v in variants if v.get("type") != "null"]
            if non_null and all(v.get("type") in ("integer", "string", "number") for v in non_null) \
                    and len(non_null) > 1:
                return {**copy.deepcopy(_INT_OR_STRING), **_keep(node, ("description",))}
            if len(non_null) == 1:
                merged = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
                inner = convert(non_null[0])
                inner.update({k: v for k, v in merged.items() if k != "title"})
                return _finish(inner, convert)
            return {"x-kubernetes-preserve-unknown-fields": True, **_keep(node, ("description",))}
        return _finish(dict(node), convert)

    root = {k: v for k, v in schema.items() if k != "$defs"}
    return convert(root)


def _keep(node: Schema, keys: tuple[str, ...]) -> Schema:
    return {k: node[k] for k in keys if k in node}


def _finish(node: Schema, convert: Callable[[Schema], Schema]) -> Schema:
    node.pop("title", None)
    if node.get("default", ...) is None:
        node.pop("default")
    if CRD_DEFAULT_KEY in node:
        node["default"] = node.pop(CRD_DEFAULT_KEY)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    if "properties" in node:
        node["properties"] = {k: convert(v) for k, v in node["properties"].items()}
        node.setdefault("type", "object")
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = convert(node["additionalProperties"])
    elif node.get("additionalProperties") is True:
        node.pop("additionalProperties")
        node["x-kubernetes-preserve-unknown-fields"] = True
    elif node.get("additionalProperties") is False:
        node.pop("additionalProperties")
    if isinstance(node.get("items"), dict):
        node["items"] = convert(node["items"])
    if "type" not in node and not node.get("x-kubernetes-int-or-string"):
        node["x-kubernetes-preserve-unknown-fields"] = True
        node["type"] = "object"
    if node.get("type") == "object" and "properties" not in node and "additionalProperties" not in node:
        node["x-kubernetes-preserve-unknown-fields"] = True
    return node
