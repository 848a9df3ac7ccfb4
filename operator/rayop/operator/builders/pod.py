"""Head and worker pods, built the way KubeRay's ``DefaultHeadPodTemplate`` / ``DefaultWorkerPodTemplate`` +
``BuildPod`` build them: labels, annotations, ``ray start`` command, env vars, ports, volumes, init container,
probes and the autoscaler sidecar.

The caller chooses the pod name (see :mod:`.names`); KubeRay uses ``generateName`` instead, which rayop
avoids so that a reconcile pass working from a stale cache can never create a pod twice.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.operator.builders import (
    DEFAULT_OPTIONS,
    BuildOptions,
    auth,
    gcs_ft,
    hashing,
    names,
    probes,
    raystart,
)
from rayop.operator.builders.autoscaler import AUTOSCALER_CONTAINER_NAME, build_autoscaler_container
from rayop.operator.builders.env import has_env

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster, WorkerGroupSpec

SHARED_MEMORY_VOLUME = "shared-mem"
SHARED_MEMORY_MOUNT_PATH = "/dev/shm"
RAY_LOG_VOLUME = "ray-logs"
RAY_LOG_MOUNT_PATH = "/tmp/ray"
WAIT_GCS_READY = "wait-gcs-ready"
RAY_ENABLE_AUTOSCALER_V2 = L.RAY_ENABLE_AUTOSCALER_V2
KUBERAY_GEN_RAY_START_CMD = "KUBERAY_GEN_RAY_START_CMD"
RAY_CONTAINER_INDEX = 0

#: The shell loop of ``wait-gcs-ready``: quiet for two minutes, then verbose with a pointer to the FAQ.
WAIT_GCS_READY_SCRIPT = """
					SECONDS=0
					while true; do
						if (( SECONDS <= 120 )); then
							if ray health-check --address {addr} > /dev/null 2>&1; then
								echo "GCS is ready."
								break
							fi
							echo "$SECONDS seconds elapsed: Waiting for GCS to be ready."
						else
							if ray health-check --address {addr}; then
								echo "GCS is ready. Any error messages above can be safely ignored."
								break
							fi
							echo "$SECONDS seconds elapsed: Still waiting for GCS to be ready. {faq}"
						fi
						sleep 5
					done
				"""
WAIT_GCS_READY_FAQ = (
    "For troubleshooting, refer to the FAQ at "
    "https://docs.ray.io/en/master/cluster/kubernetes/troubleshooting.html."
)


def creator_crd(cluster: RayCluster) -> str:
    """Which kind created the cluster (label ``ray.io/originated-from-crd``), RayCluster by default."""
    value = cluster.labels.get(L.RAY_ORIGINATED_FROM_CRD, "")
    return value if value in (L.CRD_RAYJOB, L.CRD_RAYSERVICE) else L.CRD_RAYCLUSTER


def container_command(options: BuildOptions) -> list[str]:
    """``/bin/bash -c --`` (``-cl`` with a login shell), the wrapper of generated commands."""
    return ["/bin/bash", "-cl" if options.enable_login_shell else "-c", "--"]


def label_pod(node_type: str, cluster_name: str, group: str, overrides: dict[str, str]) -> dict[str, str]:
    """KubeRay's ``labelPod``: defaults, then user labels, except the three the operator owns."""
    result = {
        L.RAY_IS_RAY_NODE: L.IS_RAY_NODE_YES,
        L.RAY_CLUSTER: cluster_name,
        L.RAY_NODE_TYPE: node_type,
        L.RAY_GROUP: group,
        L.RAY_IDENTIFIER: names.identifier(cluster_name, node_type),
        L.K8S_APP_NAME: L.APPLICATION_NAME,
        L.K8S_CREATED_BY: L.COMPONENT_NAME,
    }
    for key, value in overrides.items():
        if key not in L.NON_OVERRIDABLE_POD_LABELS:
            result[key] = value
    return result


def _add_metrics_port(container: dict[str, Any]) -> None:
    ports = container.setdefault("ports", [])
    if not any(p.get("name") == "metrics" for p in ports):
        ports.append({"name": "metrics", "containerPort": raystart.DEFAULT_METRICS_PORT})


def _add_empty_dir(
    pod_spec: dict[str, Any], container: dict[str, Any], volume: str, path: str, memory: bool
) -> None:
    """KubeRay's ``addEmptyDir``: skip if the path is mounted; /dev/shm is sized by the memory
    limit/request."""
    mounts = container.setdefault("volumeMounts", [])
    if any(m.get("mountPath") == path for m in mounts):
        return
    volumes = pod_spec.setdefault("volumes", [])
    if not any(v.get("name") == volume for v in volumes):
        empty_dir: dict[str, Any] = {}
        if memory:
            empty_dir["medium"] = "Memory"
            resources = container.get("resources") or {}
            size = (resources.get("limits") or {}).get("memory") or (resources.get("requests") or {}).get(
                "memory"
            )
            if size is not None:
                empty_dir["sizeLimit"] = size
        volumes.append({"name": volume, "emptyDir": empty_dir})
    mounts.append({"mountPath": path, "name": volume})


def _wait_gcs_ready(
    ray_container: dict[str, Any], fqdn: str, port: str, options: BuildOptions
) -> dict[str, Any]:
    """The worker init container that blocks until the head's GCS answers ``ray health-check``."""
    init: dict[str, Any] = {
        "name": WAIT_GCS_READY,
        "image": ray_container.get("image", ""),
        "command": container_command(options),
        "args": [WAIT_GCS_READY_SCRIPT.format(addr=f"{fqdn}:{port}", faq=WAIT_GCS_READY_FAQ)],
        "resources": {
            "limits": {"cpu": "200m", "memory": "256Mi"},
            "requests": {"cpu": "200m", "memory": "256Mi"},
        },
    }
    if ray_container.get("imagePullPolicy"):
        init["imagePullPolicy"] = ray_container["imagePullPolicy"]
    if ray_container.get("securityContext") is not None:
        init["securityContext"] = copy.deepcopy(ray_container["securityContext"])
    if ray_container.get("env"):
        init["env"] = copy.deepcopy(ray_container["env"])
    if ray_container.get("volumeMounts"):
        init["volumeMounts"] = copy.deepcopy(ray_container["volumeMounts"])
    return init


def _set_ray_env(
    cluster: RayCluster,
    container: dict[str, Any],
    *,
    is_head: bool,
    fqdn: str,
    port: str,
    start_cmd: str,
    options: BuildOptions,
) -> None:
    """KubeRay's ``setContainerEnvVars``, in KubeRay's order."""
    env = container.setdefault("env", [])
    for default in options.default_container_envs:
        if not has_env(container, default["name"]):
            env.append(copy.deepcopy(default))
    ip = "127.0.0.1"
    if not is_head:
        ip = fqdn
        env.append({"name": "FQ_RAY_IP", "value": fqdn})
        env.append({"name": "RAY_IP", "value": names.ray_ip_from_fqdn(fqdn)})
    env.append(_field_env("RAY_CLUSTER_NAME", f"metadata.labels['{L.RAY_CLUSTER}']"))
    env.append(_field_env("RAY_CLUSTER_NAMESPACE", "metadata.namespace"))
    env.append(_field_env("RAY_CLOUD_INSTANCE_ID", "metadata.name"))
    env.append(_field_env("RAY_NODE_TYPE_NAME", f"metadata.labels['{L.RAY_GROUP}']"))
    env.append({"name": KUBERAY_GEN_RAY_START_CMD, "value": start_cmd})
    defaults: list[tuple[str, str]] = [("RAY_PORT", port)]
    if creator_crd(cluster) == L.CRD_RAYSERVICE:
        defaults += [
            ("RAY_timeout_ms_task_wait_for_death_info", "0"),
            ("RAY_gcs_server_request_timeout_seconds", "5"),
            ("RAY_SERVE_KV_TIMEOUT_S", "5"),
        ]
    defaults += [("RAY_ADDRESS", f"{ip}:{port}"), ("RAY_USAGE_STATS_KUBERAY_IN_USE", "1")]
    for name, value in defaults:
        if not has_env(container, name):
            env.append({"name": name, "value": value})
    if is_head:
        tags = f"kuberay_version={options.operator_version};kuberay_crd={creator_crd(cluster)}"
        env.append({"name": "RAY_USAGE_STATS_EXTRA_TAGS", "value": tags})
    if not has_env(container, "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE"):
        env.append({"name": "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "value": "1"})


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _build_pod(
    cluster: RayCluster,
    template: dict[str, Any],
    *,
    is_head: bool,
    params: dict[str, str],
    port: str,
    fqdn: str,
    options: BuildOptions,
) -> dict[str, Any]:
    """KubeRay's ``BuildPod``: volumes, command, env and probes of a pod whose template is already
    defaulted."""
    meta = template.setdefault("metadata", {})
    pod_spec = template.setdefault("spec", {})
    rayservice = creator_crd(cluster) == L.CRD_RAYSERVICE
    if rayservice:
        meta["labels"][L.RAY_SERVE] = L.SERVE_FALSE if is_head else L.SERVE_TRUE
    ray = pod_spec["containers"][RAY_CONTAINER_INDEX]
    if "plasma-directory" not in params:
        _add_empty_dir(pod_spec, ray, SHARED_MEMORY_VOLUME, SHARED_MEMORY_MOUNT_PATH, memory=True)
    if is_head and cluster.spec.is_autoscaling_enabled():
        sidecar = next(c for c in pod_spec["containers"] if c.get("name") == AUTOSCALER_CONTAINER_NAME)
        _add_empty_dir(pod_spec, ray, RAY_LOG_VOLUME, RAY_LOG_MOUNT_PATH, memory=False)
        _add_empty_dir(pod_spec, sidecar, RAY_LOG_VOLUME, RAY_LOG_MOUNT_PATH, memory=False)

    user_cmd = raystart.command_to_string(ray.get("command") or []) + raystart.command_to_string(
        ray.get("args") or []
    )
    raystart.fill_from_container_resources(params, ray.get("resources"))
    start_cmd = raystart.ray_start_command(params, is_head=is_head)
    overwrite = (meta.get("annotations") or {}).get(L.OVERWRITE_CONTAINER_CMD, "").lower() == "true"
    if not overwrite and "ray start" not in user_cmd:
        generated = f"{raystart.ULIMIT_CMD}; {start_cmd}"
        ray["command"] = container_command(options)
        ray["args"] = [f"{user_cmd} && {generated}" if user_cmd else generated]

    for init in pod_spec.get("initContainers") or []:
        init.setdefault("env", []).extend(
            [{"name": "FQ_RAY_IP", "value": fqdn}, {"name": "RAY_IP", "value": names.ray_ip_from_fqdn(fqdn)}]
        )
    _set_ray_env(cluster, ray, is_head=is_head, fqdn=fqdn, port=port, start_cmd=start_cmd, options=options)
    if options.enable_probes_injection:
        probes.add_probes(
            ray, is_head=is_head, params=params, ray_version=cluster.spec.ray_version, rayservice=rayservice
        )
    for key, value in options.default_pod_labels.items():
        meta["labels"].setdefault(key, value)
    for key, value in options.default_pod_annotations.items():
        meta.setdefault("annotations", {}).setdefault(key, value)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}


def _start_template(cluster: RayCluster, template: dict[str, Any], name: str) -> dict[str, Any]:
    """Deep copy of a group template with the pod's name and namespace set and the overwrite annotation."""
    template = copy.deepcopy(template)
    meta = template.setdefault("metadata", {})
    meta.pop("generateName", None)
    meta["name"] = name
    meta["namespace"] = cluster.namespace
    annotations = meta.setdefault("annotations", {})
    if cluster.annotations.get(L.OVERWRITE_CONTAINER_CMD, "").lower() == "true":
        annotations[L.OVERWRITE_CONTAINER_CMD] = "true"
    template.setdefault("spec", {}).setdefault("containers", [{}])
    return template


def build_head_pod(
    cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS, *, name: str | None = None
) -> dict:
    """The head pod KubeRay would create for ``cluster`` (name defaults to :func:`names.head_pod_name`)."""
    spec = cluster.spec
    head = spec.head_group_spec
    template = _start_template(cluster, head.template, name or names.head_pod_name(cluster))
    meta, pod_spec = template["metadata"], template["spec"]
    params = dict(head.ray_start_params or {})
    port = raystart.head_port(head.ray_start_params)
    fqdn = names.fqdn_ray_ip(cluster, options.cluster_domain)
    raystart.apply_group_resources(params, head.resources)
    raystart.apply_group_labels(params, head.labels)
    merged = {**(head.template.get("metadata") or {}).get("labels", {}), **(head.labels or {})}
    meta["labels"] = label_pod(L.NODE_TYPE_HEAD, cluster.name, L.HEAD_GROUP, merged)
    raystart.set_missing_params(params, is_head=True, port=port, fqdn="")
    ray = pod_spec["containers"][RAY_CONTAINER_INDEX]
    if spec.is_autoscaling_enabled():
        params["no-monitor"] = "true"
        pod_spec["serviceAccountName"] = names.autoscaler_service_account_name(cluster)
        pod_spec["containers"].append(build_autoscaler_container(cluster, options))
        version = spec.autoscaler_version()
        if version is not None:
            ray.setdefault("env", []).append(
                {"name": RAY_ENABLE_AUTOSCALER_V2, "value": str(version == "v2").lower()}
            )
        if version == "v2":
            pod_spec["restartPolicy"] = "Never"
    gcs_ft.configure_head(cluster, meta["annotations"], ray, params)
    _add_metrics_port(ray)
    if auth.is_auth_enabled(cluster):
        _configure_token_auth(cluster, pod_spec)
    pod_spec["containers"].extend(copy.deepcopy(list(options.head_sidecar_containers)))
    pod = _build_pod(cluster, template, is_head=True, params=params, port=port, fqdn=fqdn, options=options)
    pod["metadata"]["annotations"][L.UPGRADE_STRATEGY_RECREATE_HASH] = hashing.spec_hash(cluster)
    pod["metadata"]["annotations"][L.KUBERAY_VERSION] = options.operator_version
    return pod


def build_worker_pod(
    cluster: RayCluster,
    group: WorkerGroupSpec,
    options: BuildOptions = DEFAULT_OPTIONS,
    *,
    name: str,
    replica_index: int = 0,
    replica_name: str | None = None,
    host_index: int = 0,
) -> dict:
    """A worker pod of ``group``; multi-host groups also pass the replica's name and the host index."""
    spec = cluster.spec
    template = _start_template(cluster, group.template, name)
    meta, pod_spec = template["metadata"], template["spec"]
    head_params = spec.head_group_spec.ray_start_params
    port = raystart.head_port(head_params)
    fqdn = names.fqdn_ray_ip(cluster, options.cluster_domain)
    ray = pod_spec["containers"][RAY_CONTAINER_INDEX]
    if options.enable_init_container_injection:
        pod_spec.setdefault("initContainers", []).append(_wait_gcs_ready(ray, fqdn, port, options))
    params = dict(group.ray_start_params or {})
    raystart.apply_group_resources(params, group.resources)
    raystart.apply_group_labels(params, group.labels)
    merged = {**(group.template.get("metadata") or {}).get("labels", {}), **(group.labels or {})}
    meta["labels"] = label_pod(L.NODE_TYPE_WORKER, cluster.name, group.group_name, merged)
    if options.multihost_indexing:
        meta["labels"][L.RAY_WORKER_GROUP_REPLICA_INDEX] = str(replica_index)
        if group.effective_num_of_hosts() > 1:
            meta["labels"][L.RAY_WORKER_GROUP_REPLICA_NAME] = replica_name or ""
            meta["labels"][L.RAY_REPLICA_HOST_INDEX] = str(host_index)
    raystart.set_missing_params(params, is_head=False, port=port, fqdn=fqdn)
    gcs_ft.configure_worker(cluster, ray)
    _add_metrics_port(ray)
    if spec.is_autoscaling_enabled() and spec.autoscaler_version() == "v2":
        pod_spec["restartPolicy"] = "Never"
    if auth.is_auth_enabled(cluster):
        _configure_token_auth(cluster, pod_spec)
    pod_spec["containers"].extend(copy.deepcopy(list(options.worker_sidecar_containers)))
    return _build_pod(cluster, template, is_head=False, params=params, port=port, fqdn=fqdn, options=options)


def _configure_token_auth(cluster: RayCluster, pod_spec: dict[str, Any]) -> None:
    """KubeRay's ``configureTokenAuth``: Ray container, token volume and the ``wait-gcs-ready`` init
    container."""
    auth.add_token_auth_env(cluster, pod_spec["containers"][RAY_CONTAINER_INDEX])
    if auth.is_k8s_auth_enabled(cluster.spec.auth_options):
        auth.add_token_volume(pod_spec)
    for init in pod_spec.get("initContainers") or []:
        if init.get("name") == WAIT_GCS_READY:
            auth.add_token_auth_env(cluster, init)
