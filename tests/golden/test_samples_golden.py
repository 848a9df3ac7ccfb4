"""Every object rayop builds for each KubeRay RayCluster sample, compared with reviewed YAML snapshots.

The snapshots are the reviewable record of "what rayop creates for this manifest"; a builder change shows up as a
snapshot diff.  Regenerate on purpose with ``pytest tests/golden --update-golden`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.api.raycluster import RayCluster
from rayop.operator.builders import BuildOptions, names
from rayop.operator.raycluster.children import desired_children, fresh_cluster_pods
from rayop.operator.raycluster.pods_plan import CreatePod

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
    """What the reconciler creates for a fresh cluster (its own lists), with deterministic names."""
    wanted = desired_children(cluster, OPTIONS, auth_token=lambda: "golden-token")
    per_group: dict[str, int] = {}

    def suffix(create: CreatePod, _: int) -> str:
        if create.node_type == "head":
            return names.name_suffix(cluster.uid or cluster.name, "head")
        replica = create.replica_index if create.replica_key is not None else per_group.get(create.group, 0)
        if create.replica_key is None:
            per_group[create.group] = replica + 1
        return names.name_suffix(cluster.uid, create.group, str(replica), str(create.host_index or 0))

    def replica_suffix(create: CreatePod) -> str:
        return names.name_suffix(cluster.uid, str(create.replica_index))

    pods = fresh_cluster_pods(cluster, OPTIONS, suffix=suffix, replica_suffix=replica_suffix)
    return [d.child.obj for d in wanted.children] + pods


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
