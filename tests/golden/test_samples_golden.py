"""Every object rayop builds for each KubeRay RayCluster sample, compared with reviewed YAML snapshots.

The snapshots are the reviewable record of "what rayop creates for this manifest"; a builder change shows up as a
snapshot diff.  Regenerate on purpose with ``pytest tests/golden --update-golden`` and review the diff.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.api.raycluster import RayCluster
from rayop.operator.builders import BuildError, BuildOptions, auth, ingress, names, rbac, resources, service
from rayop.operator.builders.pod import build_head_pod, build_worker_pod

pytestmark = pytest.mark.unit

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "data" / "kuberay-samples"
SNAPSHOTS = HERE / "snapshots"
SAMPLE_FILES = sorted(SAMPLES.glob("ray-cluster.*.yaml"))
OPTIONS = BuildOptions()


def load_cluster(path: Path) -> RayCluster:
    doc = next(d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "RayCluster")
    doc["metadata"].setdefault("namespace", "default")
    doc["metadata"].setdefault("uid", f"uid-{doc['metadata']['name']}")
    return RayCluster.parse(doc)


def build_all(cluster: RayCluster) -> list[dict[str, Any]]:
    """What the reconciler would create for a fresh cluster, with deterministic names."""
    objects: list[dict[str, Any]] = []
    if cluster.spec.is_autoscaling_enabled():
        objects += rbac.build_autoscaler_rbac(cluster, OPTIONS)
    if ingress.is_ingress_enabled(cluster):
        objects.append(ingress.build_ingress(cluster, OPTIONS))
    if auth.needs_auth_secret(cluster):
        objects.append(auth.build_auth_secret(cluster, "golden-token"))
    objects.append(service.build_head_service(cluster, OPTIONS))
    if service.needs_headless_worker_service(cluster):
        objects.append(service.build_headless_worker_service(cluster, OPTIONS))
    if service.is_serve_service_enabled(cluster):
        with contextlib.suppress(BuildError):
            objects.append(service.build_serve_service(cluster, OPTIONS))
    objects.append(build_head_pod(cluster, OPTIONS, name=names.head_pod_name(cluster)))
    for group in cluster.spec.worker_group_specs or []:
        hosts = group.effective_num_of_hosts()
        for replica in range(resources.desired_replicas(group) // hosts):
            replica_name = names.multihost_replica_name(group.group_name, names.name_suffix(cluster.uid, str(replica)))
            for host in range(hosts):
                suffix = names.name_suffix(cluster.uid, group.group_name, str(replica), str(host))
                objects.append(
                    build_worker_pod(
                        cluster,
                        group,
                        OPTIONS,
                        name=names.worker_pod_name(cluster, group, suffix),
                        replica_index=replica,
                        replica_name=replica_name,
                        host_index=host,
                    )
                )
    return objects


def render(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=True, default_flow_style=False, width=1000)


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=[p.name for p in SAMPLE_FILES])
def test_built_objects_match_snapshot(sample: Path, update_golden: bool) -> None:
    snapshot = SNAPSHOTS / sample.name
    actual = render(build_all(load_cluster(sample)))
    if update_golden or not snapshot.exists():
        snapshot.write_text(actual)
        if not update_golden:
            pytest.fail(f"snapshot {snapshot.name} was missing and has been written; review and commit it")
    assert actual == snapshot.read_text()


def test_there_is_a_snapshot_for_every_sample() -> None:
    assert {p.name for p in SNAPSHOTS.glob("*.yaml")} == {p.name for p in SAMPLE_FILES}
