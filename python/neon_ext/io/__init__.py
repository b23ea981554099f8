"""Files: model persistence (``.npz``), data tables, and atomic output files.

``persistence`` saves and loads models (:func:`neon_ext.save`,
:func:`neon_ext.load`); ``_datafiles`` reads and writes the tables of the
command line; ``_atomic`` writes outputs under a temporary name and renames
them when complete.
"""

from __future__ import annotations

from .persistence import load, save

__all__ = ["load", "save"]
