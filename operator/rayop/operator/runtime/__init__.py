"""The controller runtime shared by every kind: contract, runner, queue, children, status, finalizers, pollers."""
