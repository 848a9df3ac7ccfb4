"""The RayJob submitter: KubeRay's ``ray job submit`` script and the container that runs it.

Built as KubeRay v1.7 builds them (``common/job.go`` ``BuildJobSubmitCommand``, ``GetDefaultSubmitterContainer``;
``rayjob_controller.go`` ``getSubmitterContainer``, ``configureSubmitterContainer``); the batch Job around it is
in :mod:`.rayjob`.  The script is byte-compatible with KubeRay's: users read it in the pod spec, tools parse
its flags, and its last step (``ray job logs --follow``) is what ``kubectl logs job/<rayjob>`` shows.  Go writes
the JSON in it (``encoding/json``: sorted keys, HTML-safe escapes, Go float text), quotes with ``strconv.Quote``
and prints floats with ``%f``; the helpers here reproduce those so the strings match KubeRay's golden tests.

Deviations from KubeRay: none in what is built; where KubeRay would panic (SidecarMode without a
``rayClusterSpec``, a head template without containers) a :class:`BuildError` is raised instead.
"""

from __future__ import annotations

import copy
import json
import math
import re
import struct
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import yaml

from rayop.api.raycluster import RayCluster
from rayop.operator.builders import DEFAULT_OPTIONS, BuildError, BuildOptions, auth
from rayop.operator.builders.probes import find_container_port
from rayop.operator.builders.raystart import DEFAULT_DASHBOARD_PORT

if TYPE_CHECKING:
    from rayop.api.raycluster import RayClusterSpec
    from rayop.api.rayjob import RayJob

SUBMITTER_CONTAINER_NAME = "ray-job-submitter"
PYTHONUNBUFFERED = "PYTHONUNBUFFERED"
RAY_DASHBOARD_ADDRESS = "RAY_DASHBOARD_ADDRESS"
RAY_JOB_SUBMISSION_ID = "RAY_JOB_SUBMISSION_ID"
DASHBOARD_PORT_NAME = "dashboard"
#: KubeRay's ``GetDefaultSubmitterContainer`` resources.
DEFAULT_SUBMITTER_RESOURCES: dict[str, dict[str, str]] = {
    "limits": {"cpu": "1", "memory": "1Gi"},
    "requests": {"cpu": "500m", "memory": "200Mi"},
}
GCS_HEALTH_PATH = "api/gcs_healthz"
GCS_HEALTH_TIMEOUT_SECONDS = 10
#: KubeRay's ``BasePythonHealthCommand`` (as quoted in kuberay.md §2.13): the wait loop's probe.
PYTHON_HEALTH_COMMAND = (
    "python -c \"import urllib.request; r=urllib.request.urlopen('{url}', timeout={timeout}); "
    "exit(0 if b'success' in r.read() else 1)\""
)
METADATA_MIN_RAY_VERSION = "2.6.0"

# ----------------------------------------------------------------------------------------------------
# Go-compatible text: strconv.Quote, encoding/json, %f of a float32, strings.TrimSpace, sigs.k8s.io/yaml
# ----------------------------------------------------------------------------------------------------

_GO_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
#: Unicode White_Space, what Go's ``strings.TrimSpace`` strips (Python's ``str.strip`` also strips \x1c-\x1f).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" + (
    "\u2028\u2029\u202f\u205f\u3000"
)


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: double quotes, printable runes kept, the rest escaped Go-style."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def go_trim_space(text: str) -> str:
    """Go's ``strings.TrimSpace``."""
    return text.strip(_GO_SPACE)


def _go_float(value: float) -> str:
    """A float64 as Go's ``encoding/json`` writes it: shortest digits, exponent only below 1e-6 or from 1e21."""
    if math.isnan(value) or math.isinf(value):
        raise BuildError(f"json: unsupported value: {value}")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return re.sub(r"e-0(\d)$", r"e-\1", repr(value))
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def go_json(value: Any) -> str:
    """Go's ``json.Marshal`` of a decoded JSON/YAML value: sorted keys, no spaces, ``<>&`` escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(raw, escaped)
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(value, dict):
        return "{" + ",".join(f"{go_json(k)}:{go_json(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise BuildError(f"json: unsupported type: {type(value).__name__}")


def float32(value: float) -> float:
    """The nearest float32, as KubeRay holds ``entrypointNumCpus`` / ``entrypointNumGpus``."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


def float32_shortest(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (what Go's JSON writes for a float32)."""
    target = float32(value)
    for digits in range(1, 10):
        candidate = float(f"{target:.{digits}g}")
        if float32(candidate) == target:
            return candidate
    return target


class _GoYamlLoader(yaml.SafeLoader):
    """YAML 1.1 as go-yaml v2 (behind sigs.k8s.io/yaml) resolves it: y/Y/n/N are booleans and timestamps
    stay strings when decoded into an untyped value."""

    bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


_GoYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


def _json_key(key: Any) -> str:
    """sigs.k8s.io/yaml turns non-string mapping keys into strings."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (int, float)):
        return go_json(key)
    if key is None:
        return "null"
    raise BuildError(f"error converting YAML to JSON: unsupported map key of type {type(key).__name__}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {_json_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def load_yaml(text: str) -> Any:
    """Decode YAML the way sigs.k8s.io/yaml does, as JSON-able values; a syntax error is a BuildError."""
    try:
        return _jsonable(yaml.load(text, Loader=_GoYamlLoader))
    except yaml.YAMLError as err:
        raise BuildError(f"error converting YAML to JSON: {err}") from err


# ----------------------------------------------------------------------------------------------------
# The submit script
# ----------------------------------------------------------------------------------------------------


def runtime_env_json(job: RayJob) -> str:
    """``runtimeEnvYAML`` converted to JSON (``getRuntimeEnvJson``); "" when unset."""
    text = job.spec.runtime_env_yaml or ""
    return go_json(load_yaml(text)) if text else ""


def metadata_json(job: RayJob) -> str:
    """``metadata`` as JSON; an explicit ``rayVersion`` below 2.6.0 (or not semver) is rejected, as in KubeRay."""
    spec = job.spec.ray_cluster_spec
    version = spec.ray_version if spec is not None else None
    if version:
        parsed = _semver(version)
        if parsed is None:
            raise BuildError(f"failed to parse Ray version: {version}: invalid semantic version")
        # Masterminds semver: a pre-release never satisfies a constraint without a pre-release.
        if parsed[3] or parsed[:3] < (2, 6, 0):
            raise BuildError(f"the Ray version must be at least {METADATA_MIN_RAY_VERSION} to use the metadata field")
    return go_json(dict(job.spec.metadata or {}))


_SEMVER_RE = re.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


def _semver(version: str) -> tuple[int, int, int, bool] | None:
    """Masterminds ``semver.NewVersion`` (lenient: ``2``, ``2.6``, ``v2.6.0``); the flag is "has a pre-release"."""
    match = _SEMVER_RE.match(version)
    if match is None:
        return None
    major, minor, patch = (int(g.lstrip(".")) if g else 0 for g in match.groups()[:3])
    return major, minor, patch, bool(match[4])


def dashboard_port(spec: RayClusterSpec) -> int:
    """The head Ray container's port named ``dashboard`` (8265 by default)."""
    containers = (spec.head_group_spec.template.get("spec") or {}).get("containers") or [{}]
    return find_container_port(containers[0], DASHBOARD_PORT_NAME, DEFAULT_DASHBOARD_PORT)


def submit_command(
    job: RayJob,
    dashboard_address: str = "",
    *,
    sidecar: bool = False,
    submission_id: str | None = None,
    submitter_restart: bool = False,
) -> list[str]:
    """KubeRay's ``BuildJobSubmitCommand`` tokens.

    K8sJobMode (``sidecar=False``) targets ``dashboard_address`` (``status.dashboardURL``, ``http://`` added) and
    guards against double submission (the Job may retry): wait for ``/api/gcs_healthz``, submit ``--no-wait``
    only if ``ray job status`` fails, then ``ray job logs --follow`` (what ``kubectl logs`` of the Job shows).
    SidecarMode targets ``http://127.0.0.1:<head dashboard port>`` (``dashboard_address`` is ignored) and
    submits blocking, without the guard, unless ``submitter_restart`` (gate SidecarSubmitterRestart) is on.
    """
    job_id = _submission_id(job, submission_id)
    if sidecar:
        if job.spec.ray_cluster_spec is None:
            raise BuildError("SidecarMode needs spec.rayClusterSpec: the submitter runs in the head pod")
        port = dashboard_port(job.spec.ray_cluster_spec)
        address = f"http://127.0.0.1:{port}"
        health_url = f"http://localhost:{port}/{GCS_HEALTH_PATH}"
    else:
        address = dashboard_address if dashboard_address.startswith("http://") else "http://" + dashboard_address
        health_url = f"{address}/{GCS_HEALTH_PATH}"
    health = PYTHON_HEALTH_COMMAND.format(url=health_url, timeout=GCS_HEALTH_TIMEOUT_SECONDS)
    waiting = go_quote(f"Waiting for Ray Dashboard GCS to become healthy at {address} ...")
    cmd = ["until", health, ">/dev/null", "2>&1", ";", "do", "echo", waiting, ";", "sleep", "2", ";", "done", ";"]
    guarded = not sidecar or submitter_restart
    if guarded:
        cmd += ["if", "!", "ray", "job", "status", "--address", address, job_id, ">/dev/null", "2>&1", ";", "then"]
    cmd += ["ray", "job", "submit", "--address", address]
    if guarded:
        cmd.append("--no-wait")
    if env_json := runtime_env_json(job):
        cmd += ["--runtime-env-json", go_quote(env_json)]
    if job.spec.metadata:
        cmd += ["--metadata-json", go_quote(metadata_json(job))]
    if job_id:
        cmd += ["--submission-id", job_id]
    if (cpus := float32(job.spec.entrypoint_num_cpus or 0.0)) > 0:
        cmd += ["--entrypoint-num-cpus", f"{cpus:f}"]
    if (gpus := float32(job.spec.entrypoint_num_gpus or 0.0)) > 0:
        cmd += ["--entrypoint-num-gpus", f"{gpus:f}"]
    if job.spec.entrypoint_resources:
        cmd += ["--entrypoint-resources", go_quote(job.spec.entrypoint_resources)]
    cmd += ["--", go_trim_space(job.spec.entrypoint or ""), ";"]
    if guarded:
        cmd += ["fi", ";", "ray", "job", "logs", "--address", address, "--follow", job_id]
    return cmd


def submit_script(
    job: RayJob,
    dashboard_address: str = "",
    *,
    sidecar: bool = False,
    submission_id: str | None = None,
    submitter_restart: bool = False,
) -> str:
    """The submitter's single ``bash -ce`` argument: :func:`submit_command` joined by spaces."""
    return " ".join(
        submit_command(
            job, dashboard_address, sidecar=sidecar, submission_id=submission_id, submitter_restart=submitter_restart
        )
    )


# ----------------------------------------------------------------------------------------------------
# Submitter container
# ----------------------------------------------------------------------------------------------------


def submitter_command(options: BuildOptions = DEFAULT_OPTIONS) -> list[str]:
    """``GetContainerCommand(["e"])``: ``/bin/bash -ce --`` (``-cel`` with ENABLE_LOGIN_SHELL), so the script
    stops at the first failing command."""
    return ["/bin/bash", "-cel" if options.enable_login_shell else "-ce", "--"]


def default_submitter_container(spec: RayClusterSpec) -> dict[str, Any]:
    """``GetDefaultSubmitterContainer``: ``ray-job-submitter`` in the head Ray container's image (so the CLI
    matches the cluster's Ray version), 500m/200Mi requested, 1 CPU/1Gi limit."""
    containers = (spec.head_group_spec.template.get("spec") or {}).get("containers") or []
    if not containers:
        raise BuildError("the head pod template has no containers: no image for the submitter")
    return {
        "name": SUBMITTER_CONTAINER_NAME,
        "image": containers[0].get("image", ""),
        "resources": copy.deepcopy(DEFAULT_SUBMITTER_RESOURCES),
    }


def configure_submitter(
    container: dict[str, Any],
    script: str,
    *,
    force_command: bool,
    dashboard_url: str,
    submission_id: str,
    cluster: RayCluster | None,
    options: BuildOptions,
) -> None:
    """``configureSubmitterContainer``: the script unless the user brought a command (K8sJobMode only), then
    the three env vars appended as KubeRay appends them, and the token env when the cluster uses token auth."""
    if force_command or not container.get("command"):
        container["command"] = submitter_command(options)
        container["args"] = [script]
    env = container.setdefault("env", [])
    env.append({"name": PYTHONUNBUFFERED, "value": "1"})
    env.append({"name": RAY_DASHBOARD_ADDRESS, "value": dashboard_url})
    env.append({"name": RAY_JOB_SUBMISSION_ID, "value": submission_id})
    if cluster is not None and auth.is_auth_enabled(cluster):
        auth.add_token_auth_env(cluster, container)


def build_sidecar_submitter(
    job: RayJob,
    *,
    cluster_name: str,
    submission_id: str | None = None,
    options: BuildOptions = DEFAULT_OPTIONS,
    submitter_restart: bool = False,
) -> dict[str, Any]:
    """The SidecarMode submitter container appended to the head pod (``getSubmitterContainer``).

    ``RAY_DASHBOARD_ADDRESS`` carries ``status.dashboardURL`` as it is when the cluster is built, which in
    KubeRay is still empty; the script itself talks to ``127.0.0.1``.  With ``submitter_restart`` (gate
    SidecarSubmitterRestart) the container restarts on failure and the script guards against resubmission.
    """
    spec = job.spec.ray_cluster_spec
    if spec is None:
        raise BuildError("SidecarMode needs spec.rayClusterSpec: the submitter runs in the head pod")
    job_id = _submission_id(job, submission_id)
    container = default_submitter_container(spec)
    script = submit_script(job, sidecar=True, submission_id=job_id, submitter_restart=submitter_restart)
    cluster = RayCluster(metadata={"name": cluster_name, "namespace": job.namespace}, spec=spec)
    dashboard_url = (job.status.dashboard_url if job.status else None) or ""
    configure_submitter(
        container,
        script,
        force_command=True,
        dashboard_url=dashboard_url,
        submission_id=job_id,
        cluster=cluster,
        options=options,
    )
    if submitter_restart:
        container["restartPolicy"] = "OnFailure"
    return container


def _submission_id(job: RayJob, submission_id: str | None) -> str:
    if submission_id is not None:
        return submission_id
    return (job.status.job_id if job.status else None) or ""
