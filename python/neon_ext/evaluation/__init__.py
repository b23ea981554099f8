"""Scoring explanations: baseline attributions and feature-removal curves.

``baselines`` computes the attributions NEON is compared against (also usable
alone, as ``neon_ext.baselines``); ``removal`` runs the removal
("pixel-flipping") curves and :func:`~neon_ext.evaluation.removal.compare`
(also ``neon_ext.evaluate``).
"""

from __future__ import annotations

from . import baselines, removal

__all__ = ["baselines", "removal"]
