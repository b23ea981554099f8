"""The ``neon-ext`` command line: ``commands`` (argument parsing, fit/explain/info) and ``demo``."""

from __future__ import annotations

from .commands import main

__all__ = ["main"]
