"""RayJob operations: submit (optionally shipping a working directory), follow to the verdict, logs, stop, list.

Submitting without a working directory creates a K8sJobMode RayJob (the operator submits the entrypoint). With
one, it does what ``kubectl ray job submit`` does: an InteractiveMode RayJob whose cluster the operator creates, then,
once it waits for the submission, Ray's own JobSubmissionClient packages and uploads the directory and submits the
entrypoint, and ``spec.jobId`` tells the operator which Ray job to track. Either way the verdict is the RayJob's
status (jobStatus SUCCEEDED / FAILED / STOPPED), so CI can exit with it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from rayop.api.raycluster import RayClusterSpec
from rayop.api.rayjob import RayJob
from rayop.sdk import addresses, dashboard, errors
from rayop.sdk.client import RAYCLUSTERS, RAYJOBS, Client, in_pod
from rayop.sdk.progress import Progress

FINAL_DEPLOYMENT = ("Complete", "Failed")


@dataclass(frozen=True)
class Verdict:
    """How a RayJob ended: ``ok`` is jobStatus SUCCEEDED; ``message`` carries the job's own message."""

    job: RayJob

    @property
    def job_status(self) -> str:
        return (self.job.status.job_status if self.job.status else None) or ""

    @property
    def ok(self) -> bool:
        return self.job_status == "SUCCEEDED"

    @property
    def message(self) -> str:
        s = self.job.status
        if s is None:
            return ""
        parts = [p for p in (s.reason, s.message) if p]
        return ": ".join(parts)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def job_body(name: str, entrypoint: str, *, cluster: RayClusterSpec | None = None, cluster_name: str | None = None,
             runtime_env: dict[str, Any] | None = None, interactive: bool = False,
             shutdown_after_job_finishes: bool = True, ttl_seconds_after_finished: int = 10,
             active_deadline_seconds: int | None = None, namespace: str | None = None) -> dict[str, Any]:
    """The RayJob manifest (pure)."""
    if (cluster is None) == (cluster_name is None):
        raise ValueError("give exactly one of cluster (a spec to create) or cluster_name (an existing RayCluster)")
    spec: dict[str, Any] = {"entrypoint": entrypoint}
    if interactive:
        spec["submissionMode"] = "InteractiveMode"
    if runtime_env:
        spec["runtimeEnvYAML"] = yaml.safe_dump(runtime_env, sort_keys=True)
    if cluster is not None:
        spec["rayClusterSpec"] = cluster.to_wire()
        spec["shutdownAfterJobFinishes"] = shutdown_after_job_finishes
        if shutdown_after_job_finishes:
            spec["ttlSecondsAfterFinished"] = ttl_seconds_after_finished
    else:
        spec["clusterSelector"] = {"ray.io/cluster": str(cluster_name)}
    if active_deadline_seconds:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": meta, "spec": spec}


def get(client: Client, name: str, namespace: str | None = None) -> RayJob:
    return RayJob.parse(client.get(RAYJOBS, name, namespace))


def list_(client: Client, namespace: str | None = None, label_selector: str | None = None,
          all_namespaces: bool = False) -> list[RayJob]:
    return [RayJob.parse(o) for o in client.list_all(RAYJOBS, namespace, label_selector=label_selector,
                                                     all_namespaces=all_namespaces)]


def delete(client: Client, name: str, namespace: str | None = None) -> None:
    client.delete(RAYJOBS, name, namespace)


def submit(client: Client, name: str, entrypoint: str, *, namespace: str | None = None,
           cluster: RayClusterSpec | None = None, cluster_name: str | None = None,
           working_dir: str | None = None, runtime_env: dict[str, Any] | None = None,
           shutdown_after_job_finishes: bool = True, ttl_seconds_after_finished: int = 10,
           active_deadline_seconds: int | None = None, timeout: float = 600, interactive: bool | None = None,
           submission_id: str | None = None, submit_options: dict[str, Any] | None = None,
           progress: Progress | None = None) -> RayJob:
    """Create the RayJob; interactive (always with ``working_dir``): also upload the directory and submit through
    Ray's job client once the cluster waits for the job, as ``kubectl ray job submit`` does. ``submit_options``
    go to Ray's ``submit_job`` (entrypoint_num_cpus, entrypoint_num_gpus, entrypoint_memory, entrypoint_resources,
    metadata)."""
    env = dict(runtime_env or {})
    interactive = working_dir is not None if interactive is None else interactive or working_dir is not None
    body = job_body(name, entrypoint, cluster=cluster, cluster_name=cluster_name,
                    runtime_env=None if interactive else env, interactive=interactive,
                    shutdown_after_job_finishes=shutdown_after_job_finishes,
                    ttl_seconds_after_finished=ttl_seconds_after_finished,
                    active_deadline_seconds=active_deadline_seconds, namespace=client.ns(namespace))
    created = RayJob.parse(client.create(RAYJOBS, body, namespace))
    if not interactive:
        return created
    progress = progress or Progress(f"RayJob {client.ns(namespace)}/{name}", quiet=True)
    obj = _wait_waiting(client, name, namespace, timeout, progress)
    base = dashboard_address(client, obj, namespace)
    submission_id = submission_id or f"{name}-{secrets.token_hex(3)}"
    if working_dir:
        env["working_dir"] = working_dir
    progress.update(f"uploading {working_dir} and submitting to {base}" if working_dir else f"submitting to {base}")
    from ray.job_submission import JobSubmissionClient  # Ray's own packaging and upload of working_dir

    JobSubmissionClient(base).submit_job(entrypoint=entrypoint, runtime_env=env, submission_id=submission_id,
                                         **(submit_options or {}))
    return RayJob.parse(client.patch(RAYJOBS, name, {"spec": {"jobId": submission_id}}, namespace))


def _wait_waiting(client: Client, name: str, namespace: str | None, timeout: float,
                  progress: Progress) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        obj = client.get(RAYJOBS, name, namespace)
        status = obj.get("status") or {}
        deployment = status.get("jobDeploymentStatus") or "New"
        progress.update(f"{deployment}, cluster {status.get('rayClusterName') or '-'} "
                        f"{(status.get('rayClusterStatus') or {}).get('state') or 'starting'}")
        if deployment == "Waiting":
            return obj
        if deployment in FINAL_DEPLOYMENT:
            raise errors.NotReady(f"RayJob {client.ns(namespace)}/{name} ended before its submission: "
                                  f"{status.get('reason')}: {status.get('message')}")
        if time.monotonic() - started > timeout:
            why = _cluster_why(client, status.get("rayClusterName"), namespace, time.monotonic() - started)
            raise errors.NotReady(f"RayJob {client.ns(namespace)}/{name} is still {deployment}: {why}")
        time.sleep(1.0)


def _cluster_why(client: Client, cluster: str | None, namespace: str | None, waited: float) -> str:
    if not cluster:
        return "no RayCluster yet"
    from rayop.sdk.clusters import why_not_ready

    try:
        return why_not_ready(client, cluster, namespace, waited)
    except errors.NotFound:
        return f"RayCluster {cluster} does not exist"


def dashboard_address(client: Client, job: dict[str, Any], namespace: str | None = None) -> str:
    """The dashboard of the job's cluster, as reachable from here; Unreachable says why none is."""
    cluster_name = (job.get("status") or {}).get("rayClusterName")
    if not cluster_name:
        raise errors.Unreachable(f"RayJob {job['metadata']['name']} has no RayCluster yet")
    cluster = client.get(RAYCLUSTERS, cluster_name, namespace)
    where = addresses.choose(cluster, in_pod(), addresses.tcp_open)
    if where.host is None:
        raise errors.Unreachable(where.why)
    return f"http://{where.host}:{addresses._port(cluster, 'dashboard', addresses.DASHBOARD_PORT)}"


def logs(client: Client, name: str, namespace: str | None = None) -> str:
    """The Ray job's driver output: from the dashboard while the cluster lives, else the submitter pod's log."""
    obj = client.get(RAYJOBS, name, namespace)
    job_id = (obj.get("status") or {}).get("jobId") or (obj.get("spec") or {}).get("jobId")
    try:
        if job_id:
            return dashboard.job_logs(dashboard_address(client, obj, namespace), job_id)
    except (errors.Unreachable, errors.NotFound, OSError, ValueError):
        pass
    pods = client.pods(namespace, f"job-name={name}")
    if pods:
        return client.pod_log(namespace, pods[-1]["metadata"]["name"])
    raise errors.NotFound(f"no logs for RayJob {client.ns(namespace)}/{name}: its cluster is gone and it has no "
                          "submitter pod", status=404)


def follow(client: Client, name: str, namespace: str | None = None, *, timeout: float = 3600,
           on_output: Callable[[str], None] | None = None, progress: Progress | None = None) -> Verdict:
    """Stream the job's output to ``on_output`` and return its verdict once the RayJob is Complete or Failed."""
    progress = progress or Progress(f"RayJob {client.ns(namespace)}/{name}", quiet=True)
    started = time.monotonic()
    for chunk in output_chunks(client, name, namespace, progress, started + timeout):
        if on_output:
            on_output(chunk)
    return Verdict(get(client, name, namespace))


def output_chunks(client: Client, name: str, namespace: str | None, progress: Progress,
            deadline: float) -> Iterator[str]:
    seen = 0
    ray_done = False
    while True:
        obj = client.get(RAYJOBS, name, namespace)
        status = obj.get("status") or {}
        job_id = status.get("jobId") or (obj.get("spec") or {}).get("jobId")
        progress.update(f"{status.get('jobDeploymentStatus') or 'New'}, job {status.get('jobStatus') or '-'}")
        if job_id and not ray_done:
            try:
                base = dashboard_address(client, obj, namespace)
                text = dashboard.job_logs(base, job_id)
                if len(text) > seen:
                    yield text[seen:]
                    seen = len(text)
                ray_done = dashboard.job_info(base, job_id).get("status") in dashboard.TERMINAL
                if ray_done:  # read once more: the last lines may land with the status
                    text = dashboard.job_logs(base, job_id)
                    if len(text) > seen:
                        yield text[seen:]
                        seen = len(text)
            except (errors.Unreachable, errors.NotFound, OSError, ValueError):
                pass  # not up yet, or already torn down; the RayJob status still gives the verdict
        if status.get("jobDeploymentStatus") in FINAL_DEPLOYMENT:
            return
        if time.monotonic() > deadline:
            raise errors.NotReady(f"RayJob {client.ns(namespace)}/{name} has no verdict yet: "
                                  f"{json.dumps({k: status.get(k) for k in ('jobDeploymentStatus', 'jobStatus')})}")
        time.sleep(1.0)


def stop(client: Client, name: str, namespace: str | None = None) -> bool:
    """Stop the Ray job (Ray's ``job stop``); the operator then records STOPPED."""
    obj = client.get(RAYJOBS, name, namespace)
    job_id = (obj.get("status") or {}).get("jobId") or (obj.get("spec") or {}).get("jobId")
    if not job_id:
        raise errors.NotReady(f"RayJob {client.ns(namespace)}/{name} has not submitted a Ray job yet")
    return dashboard.stop_job(dashboard_address(client, obj, namespace), job_id)
