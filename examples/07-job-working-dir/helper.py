"""A module next to train.py: it is importable on the cluster only because --working-dir shipped the directory."""


def loss(step: int) -> float:
    return round(1.0 / (step + 1), 4)
