"""Every ``ray.io/*`` label and annotation key (and their well-known values), spelled as KubeRay spells them.

Other tools (the Ray autoscaler, kubectl-ray, dashboards, Kueue) select pods and services by these exact keys,
so rayop must never invent its own spelling for a concept KubeRay already names.
"""

from __future__ import annotations

# --- labels -----------------------------------------------------------------------------------------------
RAY_CLUSTER = "ray.io/cluster"
RAY_NODE_TYPE = "ray.io/node-type"
RAY_GROUP = "ray.io/group"
RAY_IS_RAY_NODE = "ray.io/is-ray-node"
RAY_IDENTIFIER = "ray.io/identifier"
RAY_SERVE = "ray.io/serve"
RAY_HEADLESS_WORKER_SVC = "ray.io/headless-worker-svc"
RAY_ORIGINATED_FROM_CR_NAME = "ray.io/originated-from-cr-name"
RAY_ORIGINATED_FROM_CRD = "ray.io/originated-from-crd"
RAY_JOB_SUBMISSION_MODE = "ray.io/job-submission-mode"
RAY_CRONJOB_NAME = "ray.io/cronjob-name"
RAY_WORKER_GROUP_REPLICA_NAME = "ray.io/worker-group-replica-name"
RAY_WORKER_GROUP_REPLICA_INDEX = "ray.io/worker-group-replica-index"
RAY_REPLICA_HOST_INDEX = "ray.io/replica-host-index"
RAY_PRIORITY_CLASS_NAME = "ray.io/priority-class-name"
RAY_GANG_SCHEDULING_ENABLED = "ray.io/gang-scheduling-enabled"
K8S_APP_NAME = "app.kubernetes.io/name"
K8S_CREATED_BY = "app.kubernetes.io/created-by"

# --- label values -----------------------------------------------------------------------------------------
NODE_TYPE_HEAD = "head"
NODE_TYPE_WORKER = "worker"
NODE_TYPE_REDIS_CLEANUP = "redis-cleanup"
HEAD_GROUP = "headgroup"
SUBMITTER_GROUP = "submittergroup"
IS_RAY_NODE_YES = "yes"
APPLICATION_NAME = "kuberay"
COMPONENT_NAME = "kuberay-operator"
SERVE_TRUE = "true"
SERVE_FALSE = "false"
CRD_RAYCLUSTER = "RayCluster"
CRD_RAYJOB = "RayJob"
CRD_RAYSERVICE = "RayService"

# --- annotations ------------------------------------------------------------------------------------------
FT_ENABLED = "ray.io/ft-enabled"
EXTERNAL_STORAGE_NAMESPACE = "ray.io/external-storage-namespace"
GCS_FT_DELETION_TIMEOUT = "ray.io/gcs-ft-deletion-timeout"
OVERWRITE_CONTAINER_CMD = "ray.io/overwrite-container-cmd"
INITIALIZING_TIMEOUT = "ray.io/initializing-timeout"
ENABLE_SERVE_SERVICE = "ray.io/enable-serve-service"
HASH_WITHOUT_REPLICAS_AND_WORKERS_TO_DELETE = "ray.io/hash-without-replicas-and-workers-to-delete"
NUM_WORKER_GROUPS = "ray.io/num-worker-groups"
KUBERAY_VERSION = "ray.io/kuberay-version"
UPGRADE_STRATEGY_RECREATE_HASH = "ray.io/upgrade-strategy-recreate-hash"
DISABLE_PROVISIONED_HEAD_RESTART = "ray.io/disable-provisioned-head-restart"
CRONJOB_SCHEDULED_TIMESTAMP = "ray.io/cronjob-scheduled-timestamp"
INGRESS_CLASS = "kubernetes.io/ingress.class"

# --- finalizers -------------------------------------------------------------------------------------------
GCS_FT_REDIS_CLEANUP_FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"
RAYJOB_FINALIZER = "ray.io/rayjob-finalizer"
RAYSERVICE_FINALIZER = "ray.io/rayservice-finalizer"

#: The version KubeRay reports for itself (``KUBERAY_VERSION`` constant); rayop reports the same by default so
#: usage tags and the head-pod version annotation look like KubeRay's.
KUBERAY_VERSION_VALUE = "nightly"

#: Labels the operator owns on every Ray pod; user template labels may not override these three.
NON_OVERRIDABLE_POD_LABELS = frozenset({RAY_NODE_TYPE, RAY_GROUP, RAY_CLUSTER})

#: The head env var that selects the autoscaler version (KubeRay reads and writes it; validation checks it).
RAY_ENABLE_AUTOSCALER_V2 = "RAY_enable_autoscaler_v2"
