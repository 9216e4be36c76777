"""recipe-runner: declarative low-precision RL recipes for the slime stack."""

__version__ = "0.1.0"
