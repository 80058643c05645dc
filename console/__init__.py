"""Fleet Console: an operator console for accelerator fleets."""

__version__ = "0.1.0"
