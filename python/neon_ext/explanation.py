"""The result of a NEON explanation."""

from __future__ import annotations

import numpy as np

__all__ = ["Explanation"]


class Explanation:
    """Relevance of every input feature for a cluster assignment.

    Attributes
    ----------
    relevance : ndarray, shape (n_samples, n_features)
        NEON relevance R_i of each feature; each row sums to ``logit``
        (up to rounding). Positive values speak for the target cluster,
        negative values against it.
    logit : ndarray, shape (n_samples,)
        The explained cluster logit f_c(x) of the target cluster c: the margin
        by which x is closer to c than to the nearest competitor (> 0 exactly
        when x is assigned to c).
    target : ndarray of int64, shape (n_samples,)
        The explained cluster of each row.
    assigned : ndarray of int64, shape (n_samples,)
        The cluster each row is assigned to.
    beta : float
        Stiffness of the soft-min redistribution over competitors.
    feature_names : ndarray of str or None
        Column names, when the input was a DataFrame with string columns.
    """

    __slots__ = ("relevance", "logit", "target", "assigned", "beta", "feature_names")

    def __init__(self, relevance, logit, target, assigned, beta, feature_names=None):
        self.relevance = relevance
        self.logit = logit
        self.target = target
        self.assigned = assigned
        self.beta = float(beta)
        self.feature_names = feature_names

    def __len__(self) -> int:
        return self.relevance.shape[0]

    def __repr__(self) -> str:
        n, d = self.relevance.shape
        return (
            f"Explanation(n_samples={n}, n_features={d}, dtype={self.relevance.dtype}, "
            f"beta={self.beta:.6g})"
        )

    def conservation_error(self) -> np.ndarray:
        """Per row, sum of relevance minus logit (float64); ~0 up to rounding."""
        return self.relevance.sum(axis=1, dtype=np.float64) - self.logit.astype(np.float64)

    def top_features(self, row: int, k: int = 3):
        """The k features with the largest relevance for one row, as (index, value) pairs."""
        r = np.asarray(self.relevance[row], dtype=np.float64)
        order = np.argsort(-r, kind="stable")[:k]
        return [(int(i), float(r[i])) for i in order]
