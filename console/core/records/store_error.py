"""The one error a store (the audit and incident log, the telemetry archive) raises, in a module of its own:
the command line and the window catch it to say its words, without importing the store itself (the
services alone open stores; pyproject.toml's contracts keep it so)."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The store cannot be used; ``str()`` names the file, the cause and what to do."""
