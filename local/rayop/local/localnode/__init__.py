"""Local node agent: registers Nodes and runs the Pods bound to them as host processes in per-pod network
namespaces (a development/test runtime in the spirit of kwok and virtual-kubelet).  See agent.py."""
