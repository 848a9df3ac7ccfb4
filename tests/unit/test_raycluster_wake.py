"""Which RayCluster watch events call for a pass (KubeRay's predicates: generation, labels, annotations)."""

from __future__ import annotations

import copy
from typing import Any

from rayop.operator.runtime.controller import needs_pass_on_change as needs_pass

BODY: dict[str, Any] = {"metadata": {"name": "rc", "namespace": "ns", "generation": 1, "resourceVersion": "10",
                                     "labels": {"a": "1"}, "annotations": {"b": "2"}},
                        "spec": {"rayVersion": "2.52.0"}, "status": {"readyWorkerReplicas": 0}}


def changed(**meta: Any) -> dict[str, Any]:
    new = copy.deepcopy(BODY)
    new["metadata"].update(meta)
    new["metadata"]["resourceVersion"] = "11"
    return new


def test_a_new_object_needs_a_pass() -> None:
    assert needs_pass(None, BODY)


def test_a_status_only_change_does_not() -> None:
    new = changed()
    new["status"] = {"readyWorkerReplicas": 3, "state": "ready"}
    assert not needs_pass(BODY, new)


def test_spec_labels_annotations_and_deletion_do() -> None:
    assert needs_pass(BODY, changed(generation=2))
    assert needs_pass(BODY, changed(labels={"a": "2"}))
    assert needs_pass(BODY, changed(annotations={"b": "2", "ray.io/overwrite-container-cmd": "true"}))
    assert needs_pass(BODY, changed(deletionTimestamp="2026-11-29T03:00:00Z"))
