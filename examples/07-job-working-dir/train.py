"""A tiny "training" job: four Ray tasks, each importing helper.py from the shipped working directory."""

import ray
from helper import loss


@ray.remote
def train_step(step: int) -> float:
    from helper import loss as remote_loss  # imported on the worker: the working_dir reached it too

    return remote_loss(step)


if __name__ == "__main__":
    ray.init()
    losses = ray.get([train_step.remote(s) for s in range(4)])
    assert losses == [loss(s) for s in range(4)]
    print(f"trained 4 steps, final loss {losses[-1]}")
