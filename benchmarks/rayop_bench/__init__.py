"""The pieces of the benchmark harness: peers (operators.py, kuberay.py), scenarios, sampling and reports."""
