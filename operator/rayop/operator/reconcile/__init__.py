"""Reconcilers: pure planning (``*_plan``/``status``) plus thin executors that do the I/O through rayop.kube."""
