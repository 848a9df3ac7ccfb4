"""rayop's autoscaler sidecar: resizes RayCluster worker groups from the demand Ray's GCS reports.

* :mod:`.state`   — plain dataclasses of what the planner sees and decides, and group shapes from a RayCluster.
* :mod:`.policy`  — the pure planner, ``decide(state, now) -> Decision``.
* :mod:`.ray_gcs` — reading demand/idleness from GCS and draining nodes (behind the ``Gcs`` protocol).
* :mod:`.kube_io` — reading the RayCluster and its pods, the JSON patch, events and the decision annotation.
* :mod:`.loop`    — one reconcile pass and the forever loop; :mod:`.__main__` parses the command line.
"""
