"""The RayService rollout decisions, as pure functions over typed inputs (a library: no I/O, no Kubernetes client).

* :mod:`.model`: what the controller observed and wants (:class:`~.model.Observed`, :class:`~.model.Desired`) and
  the typed actions a decision hands back;
* :mod:`.rollout`: :func:`~.rollout.plan`, one decision per pass: blue/green (``NewCluster``), config in place only
  (``None``), appended worker groups in place, the upgrade deadline, replacing a stale pending cluster, drain then
  delete;
* :mod:`.hashing`: the cluster-spec hash (without replicas and workersToDelete, as KubeRay's
  ``ray.io/hash-without-replicas-and-workers-to-delete``) and the serve-config hash;
* :mod:`.capacity`: whether a cluster's pods still fit on the nodes;
* :mod:`.timeouts`: KubeRay's ``ray.io/initializing-timeout`` durations and the terminal timeout decision.
"""
