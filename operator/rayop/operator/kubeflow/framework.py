"""What differs between TFJob, PyTorchJob, XGBoostJob and MPIJob, behind one interface, and the job as the engine
reads it (defaults applied, replica types in Kubeflow's CamelCase).

The engine (:mod:`.plan`) is the training-operator's ``common/job.go`` + ``common/pod.go``; each framework module
(:mod:`.tf`, :mod:`.pytorch`, :mod:`.xgboost`, :mod:`.mpi`) supplies the hooks the training-operator's
``ControllerInterface`` has: the env contract (``SetClusterSpec``), the master role, the success rule
(``UpdateJobStatus``), defaults and validation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rayop.api.base import CustomResource
from rayop.api.kubeflow_common import CleanPodPolicy, ReplicaSpec, RestartPolicy, RunPolicy

Body = dict[str, Any]


@dataclass(frozen=True)
class Replica:
    """One replica type with the kind's defaults applied."""

    rtype: str
    replicas: int
    restart_policy: RestartPolicy
    template: Body


@dataclass(frozen=True)
class Counts:
    """One replica type's pods as the cache shows them (training-operator ``updateJobReplicaStatuses``)."""

    active: int = 0
    succeeded: int = 0
    failed: int = 0
    #: No retry is left for the failed replica (its ``batch/v1`` Job failed): the job fails, it does not restart.
    exhausted: bool = False


@dataclass
class JobView:
    """A job as the engine reads it."""

    kind: str
    name: str
    namespace: str
    uid: str
    replicas: dict[str, Replica]
    run_policy: RunPolicy
    spec: Any
    body: Body = field(repr=False, default_factory=dict)

    @property
    def total_replicas(self) -> int:
        return sum(r.replicas for r in self.replicas.values())

    @property
    def clean_pod_policy(self) -> CleanPodPolicy:
        return self.run_policy.clean_pod_policy or CleanPodPolicy.NONE


@dataclass
class Verdict:
    """What a framework's success rule decided this pass (conditions are set by the engine from it)."""

    running: bool = False
    succeeded: bool = False
    #: (replica type, failed count) that fails the job, if any.
    failed: tuple[str, int] | None = None
    #: (replica type, failed count) that makes the job Restarting instead.
    restarting: tuple[str, int] | None = None


class Framework:
    """A training framework's part; subclasses set the constants and override the hooks."""

    kind: ClassVar[str]
    plural: ClassVar[str]
    model: ClassVar[type[CustomResource]]
    #: The replica map's wire name (``tfReplicaSpecs``) and Python attribute (``tf_replica_specs``).
    replica_field: ClassVar[str]
    replica_attr: ClassVar[str]
    #: training-operator's controller name (``training.kubeflow.org/operator-name``, events' component).
    controller_name: ClassVar[str]
    #: The ``framework`` label of training_operator_* metrics.
    framework_name: ClassVar[str]
    default_container: ClassVar[str]
    port_name: ClassVar[str]
    default_port: ClassVar[int]
    default_restart: ClassVar[RestartPolicy]
    #: Valid replica types, in the order the status is evaluated.
    roles: ClassVar[tuple[str, ...]]
    #: One headless Service per pod (all but MPI).
    per_pod_services: ClassVar[bool] = True
    #: Leave variables the container already sets alone (mpi-operator) instead of appending after them
    #: (training-operator: the operator's value then wins).
    keep_user_env: ClassVar[bool] = False
    #: Replica types run as one ``batch/v1`` Job each instead of pods of the engine (MPI's launcher, see
    #: :mod:`.launcher_job`).
    job_roles: ClassVar[tuple[str, ...]] = ()
    #: Jobs of this framework may ask for an HPA (:meth:`autoscaler`): the controller then keeps one in step.
    autoscales: ClassVar[bool] = False

    # -- reading ----------------------------------------------------------------------------------------------
    def view(self, job: CustomResource, body: Body) -> JobView:
        spec = job.spec  # type: ignore[attr-defined]
        specs: Mapping[str, ReplicaSpec] = getattr(spec, self.replica_attr) or {}
        replicas: dict[str, Replica] = {}
        for key, rs in specs.items():
            rtype = self.camel(key)
            replicas[rtype] = Replica(rtype, self.default_replicas(rtype) if rs.replicas is None else rs.replicas,
                                      rs.restart_policy or self.default_restart_for(rtype),
                                      self.default_template(copy.deepcopy(rs.template or {})))
        return JobView(self.kind, job.name, job.namespace, job.uid, replicas, self.run_policy(spec), spec, body)

    def camel(self, key: str) -> str:
        """Kubeflow's ``setTypeNameToCamelCase``: ``worker`` → ``Worker`` (unknown keys are kept)."""
        return next((r for r in self.roles if r.lower() == key.lower()), key)

    def default_replicas(self, rtype: str) -> int:
        return 1

    def default_restart_for(self, rtype: str) -> RestartPolicy:
        return self.default_restart

    def run_policy(self, spec: Any) -> RunPolicy:
        return spec.run_policy

    def default_template(self, template: Body) -> Body:
        """Kubeflow's ``setDefaultPort``: the default container gets the default port when it names none."""
        for c in (template.get("spec") or {}).get("containers") or []:
            if c.get("name") == self.default_container:
                ports = c.setdefault("ports", [])
                if not any(p.get("name") == self.port_name for p in ports):
                    ports.append({"name": self.port_name, "containerPort": self.default_port})
        return template

    # -- hooks ------------------------------------------------------------------------------------------------
    def validate(self, job: JobView) -> list[str]:
        """Problems the training-operator's webhook would reject, as ``field: message``."""
        problems = []
        for rtype, r in job.replicas.items():
            if rtype not in self.roles:
                problems.append(f"spec.{self.replica_field}: unknown replica type {rtype!r} "
                                f"(one of {', '.join(self.roles)})")
            containers = (r.template.get("spec") or {}).get("containers") or []
            if not containers:
                problems.append(f"spec.{self.replica_field}[{rtype}].template.spec.containers: "
                                "must not be empty")
            for i, c in enumerate(containers):
                if not c.get("image"):
                    problems.append(f"spec.{self.replica_field}[{rtype}].template.spec.containers[{i}].image: "
                                    "must be set")
            if containers and self.needs_default_container(rtype) and not any(
                    c.get("name") == self.default_container for c in containers):
                problems.append(f"spec.{self.replica_field}[{rtype}].template.spec.containers: there must be a "
                                f"container named {self.default_container}")
        return problems

    def needs_default_container(self, rtype: str) -> bool:
        return True

    def is_master_role(self, job: JobView, rtype: str, index: int) -> bool:
        return False

    def env(self, job: JobView, rtype: str, index: int, cluster_domain: str) -> list[Body]:
        """The variables of this pod (added to :meth:`env_containers`)."""
        return []

    def env_containers(self, rtype: str) -> tuple[str, ...] | None:
        """Containers that get :meth:`env` (None: every container)."""
        return None

    def verdict(self, job: JobView, counts: Mapping[str, Counts], pods: list[Body], conds: list[Body]) -> Verdict:
        raise NotImplementedError

    def extra_children(self, job: JobView, pods: list[Body], have_secret: bool = True) -> list[Body]:
        """Objects besides pods and per-pod Services (MPI's ssh Secret, hostfile ConfigMap, job Service); the
        Secret (a new key pair each call) only when ``have_secret`` is false."""
        return []

    def autoscaler(self, job: JobView) -> Body | None:
        """The job's HorizontalPodAutoscaler, if it asks for one (PyTorch's elastic metrics)."""
        return None

    def pod_extras(self, job: JobView, rtype: str, index: int, pod: Body) -> None:
        """Last changes to a built pod (MPI mounts)."""


def port_of(job: JobView, rtype: str, container: str, port_name: str, default: int | None) -> int | None:
    """The ``port_name`` port of ``container`` in ``rtype``'s template (Kubeflow's ``GetPortFromJob``)."""
    r = job.replicas.get(rtype)
    for c in ((r.template.get("spec") or {}).get("containers") or []) if r else []:
        if c.get("name") == container:
            for p in c.get("ports") or []:
                if p.get("name") == port_name:
                    return int(p["containerPort"])
    return default


def exit_code(pod: Body, container: str) -> int | None:
    """The terminated exit code of ``container`` (None: not terminated / not found; upstream's 0xbeef)."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if cs.get("name") == container and term is not None:
            return int(term.get("exitCode", 0))
    return None


def env_var(name: str, value: str) -> Body:
    return {"name": name, "value": value}
