"""rayop's zero-Docker local mode: everything needed to run rayop on one machine without a real cluster.

Kept apart from the production packages so the operator never depends on it (only ``rayop.cli`` imports it, lazily,
for ``rayop dev``):

* :mod:`.controlplane` — etcd, kube-apiserver, controller-manager, scheduler and kwok built from pinned Go modules
  (``controlplane/go/<tool>/``) and started on loopback with their own CA.
* :mod:`.localnode`    — a node agent that runs the pods bound to its Nodes as host processes.
* :mod:`.devenv`       — ``rayop dev up|down|status|serve``: the control plane, the CRDs and the operator in the
  background.
* :mod:`.demo`         — ``make demo``.
* :mod:`.source`       — where the rayop source checkout is (CRDs and examples are read from it).
"""
