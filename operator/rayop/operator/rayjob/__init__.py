"""The RayJob kind: a Ray job on an ephemeral or existing RayCluster, as KubeRay's RayJob."""
