"""Kubeflow training jobs (``kubeflow.org/v1`` TFJob, PyTorchJob, XGBoostJob, MPIJob) on the controller runtime."""
