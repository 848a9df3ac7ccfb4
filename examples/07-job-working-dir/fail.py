"""A job that fails the way a bad configuration does: a clear message and a non-zero exit."""

import sys

print("checking hyperparameters")
sys.exit("bad hyperparameter: learning rate must be > 0")
