"""Object names, with KubeRay's truncation quirks reproduced byte for byte.

KubeRay's ``CheckName`` keeps the *last* 50 characters of a long name and its pod ``generateName`` keeps the
*first* 50; tools that guess names (kubectl-ray, dashboards, users' scripts) depend on both.  Pod names get a
5-character suffix in Kubernetes' random-string alphabet, but rayop derives it deterministically from a seed
so a reconcile pass working from a stale cache computes the same name and the API server rejects the
duplicate.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import TYPE_CHECKING

from rayop.api import labels as L

if TYPE_CHECKING:
    from rayop.api.raycluster import RayCluster, WorkerGroupSpec

#: Longest generated name prefix (63 minus "-worker-" minus a 5-character suffix).
MAX_NAME_PREFIX = 50
MAX_LABEL_VALUE = 63
#: Alphabet of Kubernetes' ``rand.String`` (no vowels, no confusable characters).
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SUFFIX_LENGTH = 5


def _is_punct(ch: str) -> bool:
    """Go's ``unicode.IsPunct``: Unicode category P*."""
    return unicodedata.category(ch).startswith("P")


def check_name(name: str) -> str:
    """KubeRay's ``CheckName``: keep the last 50 chars, then replace a leading digit or punctuation with
    ``r``."""
    if len(name) > MAX_NAME_PREFIX:
        name = name[len(name) - MAX_NAME_PREFIX :]
    if name and name[0].isdigit():
        name = "r" + name[1:]
    if name and _is_punct(name[0]):
        name = "r" + name[1:]
    return name


def check_label(value: str) -> str:
    """KubeRay's ``CheckLabel``: keep the last 63 chars, then replace a leading punctuation with ``r``."""
    if len(value) > MAX_LABEL_VALUE:
        value = value[len(value) - MAX_LABEL_VALUE :]
    if value and _is_punct(value[0]):
        value = "r" + value[1:]
    return value


def name_suffix(*seed: str) -> str:
    """A deterministic 5-character suffix in Kubernetes' random-string alphabet, derived from ``seed``."""
    digest = hashlib.sha256("\x00".join(seed).encode()).digest()
    return "".join(SUFFIX_ALPHABET[b % len(SUFFIX_ALPHABET)] for b in digest[:SUFFIX_LENGTH])


def pod_generate_name(prefix: str, node_type: str) -> str:
    """KubeRay's ``PodGenerateName``: first 50 chars of ``prefix`` + ``-<node type>-``, lower-cased."""
    return (prefix[:MAX_NAME_PREFIX] + "-" + node_type + "-").lower()


def head_pod_name(cluster: RayCluster, suffix: str | None = None) -> str:
    """``<cluster>-head-<5 chars>``; the default suffix is derived from the cluster's UID (or name)."""
    if suffix is None:
        suffix = name_suffix(cluster.uid or cluster.name, L.NODE_TYPE_HEAD)
    return pod_generate_name(cluster.name, L.NODE_TYPE_HEAD) + suffix


def worker_pod_name(cluster: RayCluster, group: WorkerGroupSpec | str, suffix: str) -> str:
    """``<cluster>-<group>-worker-<5 chars>`` with the cluster-group prefix cut to 50 chars, as KubeRay
    does."""
    group_name = group if isinstance(group, str) else group.group_name
    return pod_generate_name(f"{cluster.name}-{group_name}", L.NODE_TYPE_WORKER) + suffix


def head_service_name(cluster: RayCluster) -> str:
    """``headGroupSpec.headService.metadata.name`` if set, else ``CheckName(<cluster>-head-svc)``."""
    head_service = cluster.spec.head_group_spec.head_service or {}
    custom = (head_service.get("metadata") or {}).get("name")
    if custom:
        return str(custom)
    return check_name(f"{cluster.name}-head-svc")


def fqdn_ray_ip(cluster: RayCluster, cluster_domain: str = "cluster.local") -> str:
    """``<head svc>.<namespace>.svc.<domain>``: how workers and drivers reach the head."""
    return f"{head_service_name(cluster)}.{cluster.namespace}.svc.{cluster_domain}"


def ray_ip_from_fqdn(fqdn: str) -> str:
    """The deprecated ``RAY_IP``: the first DNS label of the FQDN."""
    return fqdn.split(".")[0]


def serve_service_name(owner_name: str) -> str:
    """``CheckName(<owner>-serve-svc)``."""
    return check_name(f"{owner_name}-serve-svc")


def serve_service_label(owner_name: str) -> str:
    """Value of ``ray.io/serve`` on serve Services: ``<owner>-serve``."""
    return f"{owner_name}-serve"


def headless_worker_service_name(cluster: RayCluster) -> str:
    """``CheckName(<cluster>-headless)``."""
    return check_name(f"{cluster.name}-headless")


def ingress_name(cluster: RayCluster) -> str:
    """``CheckName(<cluster>-head-ingress)``."""
    return check_name(f"{cluster.name}-head-ingress")


def identifier(cluster_name: str, node_type: str) -> str:
    """Value of ``ray.io/identifier``: ``CheckLabel(<cluster>-<node type>)``."""
    return check_label(f"{cluster_name}-{node_type}")


def autoscaler_service_account_name(cluster: RayCluster) -> str:
    """The head template's ``serviceAccountName`` if set, else the cluster name; passed through CheckName."""
    pod_spec = cluster.spec.head_group_spec.template.get("spec") or {}
    return check_name(str(pod_spec.get("serviceAccountName") or cluster.name))


def autoscaler_role_name(cluster: RayCluster) -> str:
    """Role and RoleBinding of the autoscaler: ``CheckName(<cluster>)``."""
    return check_name(cluster.name)


def auth_secret_name(cluster: RayCluster) -> str:
    """The token Secret: ``authOptions.secretName`` if set, else ``CheckName(<cluster>)``."""
    options = cluster.spec.auth_options
    if options is not None and options.secret_name:
        return options.secret_name
    return check_name(cluster.name)


def redis_cleanup_job_name(cluster: RayCluster) -> str:
    """``CheckLabel(<cluster>-redis-cleanup)``."""
    return check_label(f"{cluster.name}-redis-cleanup")


def multihost_replica_name(group_name: str, suffix: str) -> str:
    """Value of ``ray.io/worker-group-replica-name``: ``<group>-<5 chars>``."""
    return f"{group_name}-{suffix}"
