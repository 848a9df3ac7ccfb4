"""The RayJob kind: validation now; the controller, submitter and deletion rules build on it."""
