"""kopf handler registration: thin shims, one module per kind, that hand work to :mod:`rayop.operator.reconcile`."""

from __future__ import annotations

import kopf


def register_all(registry: kopf.OperatorRegistry) -> None:
    """Register every handler of the operator on ``registry``."""
    from . import raycluster

    raycluster.register(registry)
