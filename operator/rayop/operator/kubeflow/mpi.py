"""MPIJob: a launcher running ``mpirun`` over SSH into the workers, following mpi-operator v2beta1's design on the
``kubeflow.org/v1`` MPIJob API (README: "MPIJob").

Per job: a Secret ``{job}-ssh`` (``kubernetes.io/ssh-auth``, an ECDSA P-521 key pair generated once) mounted on
every pod at ``/root/.ssh`` as ``id_rsa``/``id_rsa.pub``/``authorized_keys``; a ConfigMap ``{job}-config`` with
``hostfile`` (``{job}-worker-{i}.{job}.{ns}.svc slots=N``) and ``discover_hosts.sh`` (the Running workers, for
elastic Horovod), mounted on the launcher at ``/etc/mpi``; a headless Service ``{job}`` with every pod's
``hostname``/``subdomain`` set, so the hostfile names resolve. Workers without a command run ``/usr/sbin/sshd -De``.

The launcher runs as the ``batch/v1`` Job ``{job}-launcher`` (mpi-operator v2beta1; :mod:`.launcher_job`), not as
training-operator v1's bare pod: Kubernetes then enforces its retries, permanent exit codes and deadline even while
no operator runs, and v1's bare launcher pod belongs to v1's kubectl-exec design, which rayop does not follow. What
the MPIJob reports stays v1's (conditions, reasons, messages, ``replicaStatuses.Launcher``). ``kubeflow.org/v2beta1``
is not served: it is mpi-operator's own API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rayop.api.kubeflow import MPIJob
from rayop.api.kubeflow_common import RestartPolicy, RunPolicy

from .framework import Body, Counts, Framework, JobView, Verdict, env_var
from .observe import labels_of, phase
from .pods import job_labels

LAUNCHER, WORKER = "Launcher", "Worker"
SSH_PATH = "/root/.ssh"
CONFIG_PATH = "/etc/mpi"


def hostfile(job: JobView) -> str:
    slots = job.spec.slots_per_worker or 1
    n = job.replicas[WORKER].replicas if WORKER in job.replicas else 0
    return "".join(f"{job.name}-worker-{i}.{job.name}.{job.namespace}.svc slots={slots}\n" for i in range(n))


def discover_hosts(job: JobView, pods: list[Body]) -> str:
    running = sorted(p["metadata"]["name"] for p in pods
                     if labels_of(p)["rtype"] == "worker" and phase(p) == "Running")
    return "#!/bin/sh\n" + "".join(f"echo {name}.{job.name}.{job.namespace}.svc\n" for name in running)


def ssh_key_pair() -> tuple[str, str]:
    """A new ECDSA P-521 key: (PEM ``EC PRIVATE KEY``, OpenSSH public key line), as mpi-operator generates."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP521R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public + "\n"


class MPI(Framework):
    kind = "MPIJob"
    plural = "mpijobs"
    model = MPIJob
    replica_field = "mpiReplicaSpecs"
    replica_attr = "mpi_replica_specs"
    controller_name = "mpijob-controller"
    framework_name = "mpi"
    default_container = "mpi"
    port_name = "mpi-port"
    default_port = 9999
    default_restart = RestartPolicy.NEVER
    roles = (LAUNCHER, WORKER)
    per_pod_services = False
    keep_user_env = True
    job_roles = (LAUNCHER,)

    def default_replicas(self, rtype: str) -> int:
        return 0 if rtype == WORKER else 1

    def run_policy(self, spec: Any) -> RunPolicy:
        policy: RunPolicy = spec.run_policy
        if policy.clean_pod_policy is None and spec.clean_pod_policy is not None:
            policy = policy.model_copy(update={"clean_pod_policy": spec.clean_pod_policy})
        return policy

    def default_template(self, template: Body) -> Body:
        return template  # no default port: MPI is wired by the hostfile, not a port

    def needs_default_container(self, rtype: str) -> bool:
        return False

    def validate(self, job: JobView) -> list[str]:
        problems = super().validate(job)
        launcher = job.replicas.get(LAUNCHER)
        if launcher is None:
            problems.append(f"spec.{self.replica_field}: Launcher ReplicaSpec must be present")
        elif launcher.replicas != 1:
            problems.append(f"spec.{self.replica_field}[Launcher].replicas: must be 1")
        return problems

    def is_master_role(self, job: JobView, rtype: str, index: int) -> bool:
        return rtype == LAUNCHER

    def env(self, job: JobView, rtype: str, index: int, cluster_domain: str) -> list[Body]:
        if rtype == LAUNCHER:
            return [env_var("K_MPI_JOB_ROLE", "launcher"),
                    env_var("OMPI_MCA_orte_keep_fqdn_hostnames", "true"),
                    env_var("OMPI_MCA_orte_default_hostfile", f"{CONFIG_PATH}/hostfile"),
                    env_var("OMPI_MCA_plm_rsh_args", "-o ConnectionAttempts=10"),
                    env_var("OMPI_MCA_orte_set_default_slots", str(job.spec.slots_per_worker or 1))]
        return [env_var("K_MPI_JOB_ROLE", "worker")]

    def env_containers(self, rtype: str) -> tuple[str, ...] | None:
        return None

    def pod_extras(self, job: JobView, rtype: str, index: int, pod: Body) -> None:
        spec = pod["spec"]
        # The launcher runs as the batch/v1 Job ``{job}-launcher`` (:mod:`.launcher_job`): its pods' names are the
        # Job controller's, its hostname is the Job's name.
        spec["hostname"] = f"{job.name}-launcher" if rtype == LAUNCHER else pod["metadata"]["name"]
        spec["subdomain"] = job.name
        volumes = spec.setdefault("volumes", [])
        volumes.append({"name": "ssh-auth", "secret": {"secretName": f"{job.name}-ssh", "defaultMode": 0o600,
                                                       "items": [{"key": "ssh-privatekey", "path": "id_rsa"},
                                                                 {"key": "ssh-publickey", "path": "id_rsa.pub"},
                                                                 {"key": "ssh-publickey",
                                                                  "path": "authorized_keys"}]}})
        mounts = [{"name": "ssh-auth", "mountPath": SSH_PATH}]
        if rtype == LAUNCHER:
            volumes.append({"name": "mpi-job-config", "configMap": {"name": f"{job.name}-config", "items": [
                {"key": "hostfile", "path": "hostfile", "mode": 0o444},
                {"key": "discover_hosts.sh", "path": "discover_hosts.sh", "mode": 0o555}]}})
            mounts.append({"name": "mpi-job-config", "mountPath": CONFIG_PATH})
        else:
            spec["dnsConfig"] = {"searches": [f"{job.name}.{job.namespace}.svc.cluster.local"]}
        main = job.spec.main_container or self.default_container
        containers = spec.get("containers") or []
        for i, c in enumerate(containers):
            if c.get("name") == main or i == 0:
                c["volumeMounts"] = [*(c.get("volumeMounts") or []), *mounts]
        if rtype == WORKER and containers and not containers[0].get("command") and not containers[0].get("args"):
            containers[0]["command"] = ["/usr/sbin/sshd", "-De"]

    def extra_children(self, job: JobView, pods: list[Body], have_secret: bool = True) -> list[Body]:
        labels = job_labels(self, job)
        out: list[Body] = [
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": job.name, "labels": dict(labels)},
             "spec": {"clusterIP": "None", "selector": dict(labels)}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{job.name}-config",
                                                                   "labels": dict(labels)},
             "data": {"hostfile": hostfile(job), "discover_hosts.sh": discover_hosts(job, pods)}},
        ]
        if not have_secret:
            private, public = ssh_key_pair()
            out.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/ssh-auth",
                        "metadata": {"name": f"{job.name}-ssh", "labels": dict(labels)},
                        "stringData": {"ssh-privatekey": private, "ssh-publickey": public}})
        return out

    def verdict(self, job: JobView, counts: Mapping[str, Counts], pods: list[Body], conds: list[Body]) -> Verdict:
        v = Verdict()
        launcher, workers = counts.get(LAUNCHER, Counts()), counts.get(WORKER, Counts())
        n_workers = job.replicas[WORKER].replicas if WORKER in job.replicas else 0
        v.running = launcher.active > 0 and workers.active == n_workers
        v.succeeded = launcher.succeeded > 0
        for rtype, c in ((LAUNCHER, launcher), (WORKER, workers)):
            r = job.replicas.get(rtype)
            if r is None or c.failed == 0 or v.succeeded:
                continue
            if r.restart_policy == RestartPolicy.NEVER or c.exhausted:
                v.failed = v.failed or (rtype, c.failed)
            else:
                v.restarting = v.restarting or (rtype, c.failed)
        return v
