"""rayop's benchmark harness: rayop against KubeRay and against the API server's own ceiling (see README.md)."""
