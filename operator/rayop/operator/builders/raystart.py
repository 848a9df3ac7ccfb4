"""The ``ray start`` command KubeRay generates from ``rayStartParams``, group resources/labels and container
limits.

The command text is observable (it lands in container args and in ``KUBERAY_GEN_RAY_START_CMD``, which users
reference from their own commands), so flag order, spacing and value rendering follow KubeRay exactly: keys
sorted, every flag rendered as ``" --key "`` / ``" --key=value "``, booleans as bare flags.
"""

from __future__ import annotations

import json
from typing import Any

from rayop.api.accelerators import is_gpu_resource_key
from rayop.api.quantity import QuantityError, quantity_float, quantity_value

DEFAULT_GCS_PORT = "6379"
DEFAULT_METRICS_PORT = 8080
DEFAULT_DASHBOARD_PORT = 8265
DEFAULT_DASHBOARD_AGENT_LISTEN_PORT = 52365
DEFAULT_SERVING_PORT = 8000
DEFAULT_CLIENT_PORT = 10001

#: Flags that take an explicit true/false value instead of being bare switches.
EXPLICIT_BOOL_FLAGS = frozenset({"log-color", "include-dashboard", "include-log-monitor"})
#: Container resources mapped to a Ray custom resource; the first (sorted) present one is added.
CUSTOM_ACCELERATORS = {"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"}
ULIMIT_CMD = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"


def go_json_number(value: float) -> str:
    """Render a float like Go's encoding/json (integral values without a fraction)."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def go_json_float_map(values: dict[str, float]) -> str:
    """``json.Marshal(map[string]float64)``: keys sorted, compact, Go number rendering."""
    items = ",".join(f"{json.dumps(k)}:{go_json_number(values[k])}" for k in sorted(values))
    return "{" + items + "}"


def head_port(head_params: dict[str, str] | None) -> str:
    """The GCS port workers connect to: head ``rayStartParams["port"]`` or 6379."""
    return (head_params or {}).get("port", DEFAULT_GCS_PORT)


def apply_group_resources(params: dict[str, str], resources: dict[str, str] | None) -> None:
    """Top-level group ``resources`` override num-cpus / memory / num-gpus / resources (KubeRay semantics)."""
    if not resources:
        return
    custom: dict[str, float] = {}
    for name, quantity in resources.items():
        try:
            whole = quantity_value(quantity)
            approx = quantity_float(quantity)
        except QuantityError:
            continue  # KubeRay logs and skips unparsable quantities.
        lowered = name.lower()
        if lowered == "cpu":
            params["num-cpus"] = str(whole)
        elif lowered == "memory":
            params["memory"] = str(whole)
        elif is_gpu_resource_key(lowered):
            params["num-gpus"] = str(whole)
        else:
            custom[name] = approx
    if custom:
        params["resources"] = f"'{go_json_float_map(custom)}'"


def apply_group_labels(params: dict[str, str], labels: dict[str, str] | None) -> None:
    """Top-level group ``labels`` become ``--labels=k1=v1,k2=v2`` (sorted keys)."""
    if labels:
        params["labels"] = ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def set_missing_params(params: dict[str, str], *, is_head: bool, port: str, fqdn: str) -> None:
    """KubeRay's ``setMissingRayStartParams``: address, dashboard-host, metrics port, block, agent port."""
    if not is_head and "address" not in params:
        params["address"] = f"{fqdn}:{port}"
    if is_head and "dashboard-host" not in params:
        params["dashboard-host"] = "0.0.0.0"
    params.setdefault("metrics-export-port", str(DEFAULT_METRICS_PORT))
    params["block"] = "true"
    params.setdefault("dashboard-agent-listen-port", str(DEFAULT_DASHBOARD_AGENT_LISTEN_PORT))


def _non_zero(quantity: Any) -> bool:
    try:
        return quantity is not None and quantity_float(quantity) != 0
    except QuantityError:
        return False


def _add_accelerators(params: dict[str, str], limits: dict[str, Any]) -> None:
    """num-gpus from the first GPU limit and the first custom accelerator into ``resources`` (sorted keys)."""
    if not limits:
        return
    raw = params.get("resources")
    resources: dict[str, float] = {}
    if raw is not None:
        try:
            parsed = json.loads(raw.strip("'\"` "))
        except ValueError:
            return  # KubeRay gives up on accelerators (GPUs included) when resources does not parse.
        if not isinstance(parsed, dict):
            return
        resources = {str(k): float(v) for k, v in parsed.items()}
    accelerator_done = any(name in resources for name in CUSTOM_ACCELERATORS.values())
    for key in sorted(limits):
        value = limits[key]
        if "num-gpus" not in params and is_gpu_resource_key(key) and _non_zero(value):
            params["num-gpus"] = str(quantity_value(value))
        if not accelerator_done and key in CUSTOM_ACCELERATORS and _non_zero(value):
            ray_name = CUSTOM_ACCELERATORS[key]
            if ray_name not in resources:
                resources[ray_name] = quantity_float(value)
                params["resources"] = f"'{go_json_float_map(resources)}'"
            accelerator_done = True


def fill_from_container_resources(params: dict[str, str], container_resources: dict[str, Any] | None) -> None:
    """num-cpus (cpu limit, else request), memory (memory limit) and accelerators, unless already given."""
    limits = dict((container_resources or {}).get("limits") or {})
    requests = dict((container_resources or {}).get("requests") or {})
    if "num-cpus" not in params:
        if _non_zero(limits.get("cpu")):
            params["num-cpus"] = str(quantity_value(limits["cpu"]))
        elif _non_zero(requests.get("cpu")):
            params["num-cpus"] = str(quantity_value(requests["cpu"]))
    if "memory" not in params and _non_zero(limits.get("memory")):
        params["memory"] = str(quantity_value(limits["memory"]))
    _add_accelerators(params, limits)


def render_flags(params: dict[str, str]) -> str:
    """KubeRay's ``convertParamMap``: sorted keys, each flag surrounded by single spaces."""
    out = []
    for key in sorted(params):
        value = params[key]
        if value.lower() in ("true", "false") and key not in EXPLICIT_BOOL_FLAGS:
            if value.lower() == "true":
                out.append(f" --{key} ")
        else:
            out.append(f" --{key}={value} ")
    return "".join(out)


def ray_start_command(params: dict[str, str], *, is_head: bool) -> str:
    """``ray start --head <flags>`` or ``ray start <flags>`` (note KubeRay's double spaces)."""
    return f"ray start --head {render_flags(params)}" if is_head else f"ray start {render_flags(params)}"


def command_to_string(parts: list[str]) -> str:
    """KubeRay's ``convertCmdToString``: each element surrounded by single spaces."""
    return "".join(f" {p} " for p in parts)
