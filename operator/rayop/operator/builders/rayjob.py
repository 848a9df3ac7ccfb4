"""What a RayJob creates: the RayCluster, the K8sJobMode submitter Job, the RayJob's own head Service and the
HTTPMode job submission body, as KubeRay v1.7 builds them.

* ``constructRayClusterForRayJob`` (``rayjob_controller.go``): the cluster carries the RayJob's labels and
  annotations plus three ``ray.io`` labels tools select by, and a deep copy of ``spec.rayClusterSpec`` (later
  edits of that field are ignored by the controller, so the copy is taken once).  SidecarMode appends the
  submitter to the head pod, sets the head ``restartPolicy: Never`` and marks the cluster so the head is never
  recreated once provisioned (a new head would resubmit the job or find its submission id taken).
* ``getSubmitterTemplate`` / ``createNewK8sJob`` (``rayjob_controller.go``, ``common/job.go``): the batch Job
  ``<rayjob>`` running the submit script of :mod:`.submitter` in ``submitterPodTemplate`` or a default pod.
* ``BuildHeadServiceForRayJob`` (``common/job.go``): the cluster's head Service renamed ``<rayjob>-head-svc``,
  relabelled as the RayJob's, selector still on the current cluster's head.
* ``ConvertRayJobToReq`` (``dashboard_httpclient.go``): the ``POST /api/jobs/`` body.

Owner references are the runtime's (as for every builder).  Deviations: none in the objects built; where KubeRay
would dereference a missing ``rayClusterSpec`` or an empty container list this raises :class:`BuildError`.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from rayop.api import labels as L
from rayop.api.rayjob import SubmissionMode
from rayop.operator.builders import DEFAULT_OPTIONS, BuildError, BuildOptions, auth, names
from rayop.operator.builders.service import build_head_service
from rayop.operator.builders.submitter import (
    build_sidecar_submitter,
    configure_submitter,
    default_submitter_container,
    float32_shortest,
    load_yaml,
    submit_script,
)

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster
    from rayop.api.rayjob import RayJob

#: ``backoffLimit`` of the submitter Job when ``submitterConfig.backoffLimit`` is unset: three attempts at most.
DEFAULT_SUBMITTER_BACKOFF_LIMIT = 2


def submission_mode(job: RayJob) -> str:
    """``spec.submissionMode``, K8sJobMode when empty."""
    return str(job.spec.submission_mode or SubmissionMode.K8S_JOB_MODE)


def cluster_labels(job: RayJob) -> dict[str, str]:
    """The RayJob's labels plus originated-from name/CRD and the submission mode (the last three win)."""
    return {
        **job.labels,
        L.RAY_ORIGINATED_FROM_CR_NAME: job.name,
        L.RAY_ORIGINATED_FROM_CRD: L.CRD_RAYJOB,
        L.RAY_JOB_SUBMISSION_MODE: submission_mode(job),
    }


def build_cluster_for_job(
    job: RayJob,
    *,
    cluster_name: str,
    options: BuildOptions = DEFAULT_OPTIONS,
    submitter_restart: bool = False,
) -> dict[str, Any]:
    """The RayCluster ``cluster_name`` (``status.rayClusterName``) a RayJob creates.

    ``submitter_restart`` is the SidecarSubmitterRestart gate (alpha, off in KubeRay), which only changes the
    SidecarMode submitter container.
    """
    spec_model = job.spec.ray_cluster_spec
    if spec_model is None:
        raise BuildError("spec.rayClusterSpec is required to create a RayCluster for the RayJob")
    spec = spec_model.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")
    annotations = dict(job.annotations)
    sidecar = submission_mode(job) == SubmissionMode.SIDECAR_MODE
    if sidecar:
        annotations[L.DISABLE_PROVISIONED_HEAD_RESTART] = "true"
        pod_spec = spec["headGroupSpec"].setdefault("template", {}).setdefault("spec", {})
        submitter = build_sidecar_submitter(
            job, cluster_name=cluster_name, options=options, submitter_restart=submitter_restart
        )
        pod_spec["containers"] = [*pod_spec.get("containers", []), submitter]
        pod_spec["restartPolicy"] = "Never"
    metadata: dict[str, Any] = {"name": cluster_name, "namespace": job.namespace, "labels": cluster_labels(job)}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": metadata, "spec": spec}


def submitter_labels(job: RayJob) -> dict[str, str]:
    """Labels of the submitter Job and its pods: the RayJob it serves, and KubeRay's created-by (the manager's
    cache only sees batch Jobs carrying it)."""
    return {
        L.RAY_ORIGINATED_FROM_CR_NAME: job.name,
        L.RAY_ORIGINATED_FROM_CRD: L.CRD_RAYJOB,
        L.K8S_CREATED_BY: L.COMPONENT_NAME,
    }


def build_submitter_template(
    job: RayJob,
    *,
    cluster: RayCluster,
    dashboard_address: str,
    submission_id: str,
    options: BuildOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """``getSubmitterTemplate``: ``submitterPodTemplate`` as given, or one default container with
    ``restartPolicy: Never``; container 0 is then configured to submit (see :func:`configure_submitter`)."""
    if job.spec.submitter_pod_template is not None:
        template = copy.deepcopy(job.spec.submitter_pod_template)
    else:
        container = default_submitter_container(cluster.spec)
        template = {"spec": {"containers": [container], "restartPolicy": "Never"}}
    pod_spec = template.setdefault("spec", {})
    containers = pod_spec.get("containers") or []
    if not containers:
        raise BuildError("spec.submitterPodTemplate.spec.containers must have at least one container")
    script = submit_script(job, dashboard_address, submission_id=submission_id)
    configure_submitter(
        containers[0],
        script,
        force_command=False,
        dashboard_url=dashboard_address,
        submission_id=submission_id,
        cluster=cluster,
        options=options,
    )
    if auth.is_auth_enabled(cluster) and auth.is_k8s_auth_enabled(cluster.spec.auth_options):
        auth.add_token_volume(pod_spec)
    metadata = template.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **submitter_labels(job)}
    return template


def submitter_backoff_limit(job: RayJob) -> int:
    """``submitterConfig.backoffLimit``, else 2."""
    config = job.spec.submitter_config
    if config is not None and config.backoff_limit is not None:
        return int(config.backoff_limit)
    return DEFAULT_SUBMITTER_BACKOFF_LIMIT


def build_submitter_job(
    job: RayJob,
    *,
    cluster: RayCluster,
    dashboard_address: str,
    submission_id: str,
    options: BuildOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """The K8sJobMode submitter: batch/v1 Job ``<rayjob>`` (``createNewK8sJob``); the runtime adds the owner
    reference.  ``cluster`` is the RayCluster the job runs on (created or selected): its head image and its
    token auth shape the submitter."""
    template = build_submitter_template(
        job, cluster=cluster, dashboard_address=dashboard_address, submission_id=submission_id, options=options
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job.name, "namespace": job.namespace, "labels": submitter_labels(job)},
        "spec": {"backoffLimit": submitter_backoff_limit(job), "template": template},
    }


def job_head_service_name(job: RayJob) -> str:
    """``CheckName(<rayjob>-head-svc)``: stable across retries, whichever cluster currently serves the job."""
    return names.check_name(f"{job.name}-head-svc")


def build_job_head_service(
    job: RayJob, cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS
) -> dict[str, Any]:
    """The RayJob's own head Service over ``cluster``'s head (not created in clusterSelector mode).

    Everything but the metadata comes from the cluster's head Service (ports, headless, type, annotations, a
    user ``headService`` template); the name, namespace and labels are replaced by the RayJob's.  The runtime
    re-points the selector when a retry brings a new cluster.
    """
    service = copy.deepcopy(build_head_service(cluster, options))
    metadata = service["metadata"]
    metadata["name"] = job_head_service_name(job)
    metadata["namespace"] = job.namespace
    metadata["labels"] = {
        L.RAY_ORIGINATED_FROM_CR_NAME: job.name,
        L.RAY_ORIGINATED_FROM_CRD: L.CRD_RAYJOB,
        L.RAY_NODE_TYPE: L.NODE_TYPE_HEAD,
        L.RAY_IDENTIFIER: names.identifier(job.name, L.NODE_TYPE_HEAD),
    }
    return service


def parse_runtime_env(job: RayJob) -> dict[str, Any] | None:
    """``runtimeEnvYAML`` as a mapping (``UnmarshalRuntimeEnvYAML``); None when unset."""
    text = job.spec.runtime_env_yaml or ""
    if not text:
        return None
    value = load_yaml(text)
    if value is not None and not isinstance(value, dict):
        raise BuildError(
            f"failed to unmarshal RuntimeEnvYAML: {text}: the runtime environment must be a YAML mapping"
        )
    return value


def parse_entrypoint_resources(job: RayJob) -> dict[str, float] | None:
    """``entrypointResources`` (a JSON string) as ``map[string]float32``; None when unset or ``null``."""
    text = job.spec.entrypoint_resources or ""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as err:
        raise BuildError(f"failed to parse entrypointResources {text!r}: {err}") from err
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BuildError(f"entrypointResources must be a JSON object of numbers, got {text!r}")
    resources: dict[str, float] = {}
    for key, amount in value.items():
        if amount is None:
            amount = 0.0
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise BuildError(f"entrypointResources[{key!r}] must be a number, got {amount!r}")
        resources[key] = float32_shortest(float(amount))
    return resources


def job_submit_request(job: RayJob, submission_id: str) -> dict[str, Any]:
    """The ``POST /api/jobs/`` body of HTTPMode, key for key as KubeRay's ``RayJobRequest`` marshals it.

    Empty fields are omitted as Go's ``omitempty`` omits them (``entrypoint`` is always sent, untrimmed);
    the entrypoint CPU/GPU amounts are float32 on KubeRay's side, so they are sent at float32 precision.
    """
    body: dict[str, Any] = {}
    if runtime_env := parse_runtime_env(job):
        body["runtime_env"] = runtime_env
    if job.spec.metadata:
        body["metadata"] = dict(job.spec.metadata)
    if resources := parse_entrypoint_resources(job):
        body["entrypoint_resources"] = resources
    body["entrypoint"] = job.spec.entrypoint or ""
    if submission_id:
        body["submission_id"] = submission_id
    if cpus := float32_shortest(job.spec.entrypoint_num_cpus or 0.0):
        body["entrypoint_num_cpus"] = cpus
    if gpus := float32_shortest(job.spec.entrypoint_num_gpus or 0.0):
        body["entrypoint_num_gpus"] = gpus
    return body
