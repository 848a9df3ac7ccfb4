"""Pure helpers: Kubernetes ``$(VAR)`` expansion and a container's environment, resolved from the pod spec.

``expand`` follows kubelet's rules (k8s.io/kubernetes third_party/forked/golang/expansion): ``$(NAME)`` is replaced
when NAME is defined and left verbatim otherwise, ``$$`` becomes ``$``, an unterminated ``$(`` stays as written.
``resolve_env`` applies ``envFrom`` first, then ``env`` in order, each value expanded against what came before
(service-link variables included), as kubelet does.  Secrets and ConfigMaps come through a ``Lookup`` so this
module never does I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rayop.api.quantity import parse_quantity

#: Returns the ``data`` of a Secret (already base64-decoded) or ConfigMap, or None when it does not exist.
Lookup = Callable[[str, str], dict[str, str] | None]


class EnvError(Exception):
    """The environment cannot be built (kubelet reports CreateContainerConfigError)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(env.get(name, f"$({name})"))
            i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


_FIELD_LABEL = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_ref(pod: Mapping[str, Any], path: str, pod_ip: str, host_ip: str) -> str:
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    m = _FIELD_LABEL.match(path)
    if m:
        return str(meta.get(m.group(1), {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1], {}) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise EnvError(f"unsupported fieldRef {path!r}")


def resource_field_ref(
    container: Mapping[str, Any], ref: Mapping[str, Any], node_alloc: Mapping[str, str]
) -> str:
    """limits.cpu / requests.memory / ... with an optional divisor; a missing limit falls back to the node's
    allocatable, as kubelet does.  CPU values round up to whole divisor units."""
    resource = ref["resource"]
    kind, _, name = resource.partition(".")
    res = container.get("resources", {}) or {}
    value = (res.get(kind) or {}).get(name)
    if value is None and kind == "requests":
        value = (res.get("limits") or {}).get(name)
    if value is None:
        value = node_alloc.get(name, "0")
    divisor = parse_quantity(ref.get("divisor", "1") or "1")
    return str(math.ceil(parse_quantity(value) / divisor))


def _from_source(kind: str, sel: Mapping[str, Any], namespace: str, lookup: Lookup) -> str | None:
    data = lookup(kind, sel["name"])
    optional = bool(sel.get("optional"))
    if data is None:
        if optional:
            return None
        raise EnvError(f'{kind} "{sel["name"]}" not found')
    if sel["key"] not in data:
        if optional:
            return None
        raise EnvError(f"couldn't find key {sel['key']} in {kind} {namespace}/{sel['name']}")
    return data[sel["key"]]


def resolve_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    pod_ip: str,
    host_ip: str,
    service_env: Mapping[str, str],
    lookup: Lookup,
    node_alloc: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's declared environment (envFrom, then env), on top of ``service_env``."""
    ns = pod.get("metadata", {}).get("namespace", "default")
    env: dict[str, str] = dict(service_env)
    for src in container.get("envFrom", []) or []:
        prefix = src.get("prefix", "") or ""
        for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
            if key not in src:
                continue
            data = lookup(kind, src[key]["name"])
            if data is None:
                if src[key].get("optional"):
                    continue
                raise EnvError(f'{kind} "{src[key]["name"]}" not found')
            env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env", []) or []:
        name, vf = var["name"], var.get("valueFrom")
        value: str | None
        if vf is None:
            value = expand(var.get("value", "") or "", env)
        elif "fieldRef" in vf:
            value = field_ref(pod, vf["fieldRef"]["fieldPath"], pod_ip, host_ip)
        elif "resourceFieldRef" in vf:
            target = container
            cname = vf["resourceFieldRef"].get("containerName")
            if cname:
                all_ctrs = pod["spec"].get("containers", []) + pod["spec"].get("initContainers", [])
                target = next((c for c in all_ctrs if c["name"] == cname), container)
            value = resource_field_ref(target, vf["resourceFieldRef"], node_alloc or {})
        elif "secretKeyRef" in vf:
            value = _from_source("secret", vf["secretKeyRef"], ns, lookup)
        elif "configMapKeyRef" in vf:
            value = _from_source("configmap", vf["configMapKeyRef"], ns, lookup)
        else:
            raise EnvError(f"unsupported valueFrom for {name}: {sorted(vf)}")
        if value is not None:
            env[name] = value
    return env


def service_link_env(services: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Docker-link style variables (FOO_SERVICE_HOST, FOO_PORT_80_TCP, ...) for ClusterIP Services."""
    env: dict[str, str] = {}
    for svc in services:
        spec = svc.get("spec", {})
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue
        base = svc["metadata"]["name"].upper().replace("-", "_")
        ports = spec.get("ports", []) or []
        if not ports:
            continue
        env[f"{base}_SERVICE_HOST"] = ip
        env[f"{base}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                env[f"{base}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
            proto = (p.get("protocol") or "TCP").upper()
            url = f"{proto.lower()}://{ip}:{p['port']}"
            if p is ports[0]:
                env[f"{base}_PORT"] = url
            key = f"{base}_PORT_{p['port']}_{proto}"
            env.update(
                {key: url, f"{key}_PROTO": proto.lower(), f"{key}_PORT": str(p["port"]), f"{key}_ADDR": ip}
            )
    return env


def expand_command(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str] | None:
    """``command + args`` with $(VAR) expanded; None when the container has no command (image entrypoint)."""
    command = container.get("command") or []
    if not command:
        return None
    return [expand(a, env) for a in command] + [expand(a, env) for a in container.get("args") or []]
