"""What rayop creates for each Kubeflow example of ``examples/06-kubeflow-jobs`` on its first pass, compared with
reviewed YAML snapshots (``snapshots/kubeflow/``): pods, per-pod Services, and for the MPIJob the launcher's
``batch/v1`` Job, the job Service and the hostfile ConfigMap (the ssh Secret's key is random, so it is left out).

Regenerate on purpose with ``pytest tests/golden --update-golden`` and review the diff.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.operator.kubeflow.controller import _frameworks
from rayop.operator.kubeflow.plan import Options, plan_job

pytestmark = pytest.mark.unit

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples" / "06-kubeflow-jobs"
SNAPSHOTS = HERE / "snapshots" / "kubeflow"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
NOW = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)


def first_pass(path: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    doc["metadata"].update(namespace="default", uid=f"uid-{doc['metadata']['name']}")
    fw = next(f for f in _frameworks() if f.kind == doc["kind"])
    view = fw.view(fw.model.parse(doc), doc)
    plan = plan_job(fw, view, [], {}, NOW, Options())
    return [*fw.extra_children(view, [], have_secret=True), *plan.create_jobs,
            *(pod for _, pod in plan.create_pods), *plan.create_services]


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_first_pass_objects_match_snapshot(example: Path, update_golden: bool) -> None:
    snapshot = SNAPSHOTS / example.name
    actual = yaml.safe_dump_all(first_pass(example), sort_keys=True, default_flow_style=False, width=1000)
    if update_golden or not snapshot.exists():
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(actual)
        if not update_golden:
            pytest.fail(f"snapshot {snapshot.name} was missing and has been written; review and commit it")
    assert actual == snapshot.read_text()


def test_there_is_a_snapshot_for_every_example() -> None:
    assert {p.name for p in SNAPSHOTS.glob("*.yaml")} == {p.name for p in EXAMPLE_FILES}
