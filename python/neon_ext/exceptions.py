"""Exceptions and warnings raised by neon_ext estimators."""

from __future__ import annotations

__all__ = ["ConvergenceWarning", "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit``.

    A subclass of both ValueError and AttributeError, as scikit-learn's
    ``NotFittedError`` is, so code that catches either keeps working.
    """


class ConvergenceWarning(UserWarning):
    """A fit finished with a degenerate result (e.g. fewer distinct clusters
    than asked for, because of duplicate points)."""
