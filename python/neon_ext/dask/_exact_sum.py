"""Exact sums of float64 values, computed per block and merged in any order.

The beta heuristic is 1 / (mean assigned logit). Summed in floating point,
that mean would depend on how the rows are split into blocks (the order of
the additions), and so would every relevance it scales. Here each block
returns its sum as an exact integer times a power of two; merging partials
is exact integer arithmetic, so the mean, beta and every relevance are the
same bits for every chunking (and every retry of a lost block).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["ExactSum", "exact_sum"]

_HALF = 26  # a 53-bit significand splits into a signed high part and 26 low bits
# Rows per bincount: float64 sums of < 2**27 integers stay exact below 2**53.
_EXACT_ROWS = 1 << 25


class ExactSum:
    """``count`` values whose sum is exactly ``total * 2**exponent``."""

    __slots__ = ("count", "exponent", "total")

    def __init__(self, count: int = 0, total: int = 0, exponent: int = 0):
        self.count = int(count)
        self.total = int(total)
        self.exponent = int(exponent)

    def __add__(self, other: ExactSum) -> ExactSum:
        e = min(self.exponent, other.exponent)
        total = (self.total << (self.exponent - e)) + (other.total << (other.exponent - e))
        return ExactSum(self.count + other.count, total, e)

    def __eq__(self, other) -> bool:
        return isinstance(other, ExactSum) and self.count == other.count and self.value() == other.value()

    def __repr__(self) -> str:
        return f"ExactSum(count={self.count}, sum={float(self.value())!r})"

    def value(self) -> Fraction:
        """The exact sum."""
        return Fraction(self.total) * (Fraction(2) ** self.exponent)

    def mean(self) -> float:
        """The exact mean rounded once to float64 (NaN without values, inf past the float64 range)."""
        if self.count == 0:
            return float("nan")
        try:
            return float(self.value() / self.count)
        except OverflowError:
            return float("inf") if self.total > 0 else float("-inf")


def merge(*parts: ExactSum) -> ExactSum:
    """The exact sum of several partial sums."""
    out = ExactSum()
    for p in parts:
        out = out + p
    return out


def exact_sum(values) -> ExactSum:
    """The exact sum of finite float64 (or narrower) values.

    Each value is m * 2**e with an integer significand |m| < 2**53
    (``np.frexp``); significands are summed per exponent in integer-exact
    float64 bincounts (split in 26-bit halves) and combined as Python ints.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return ExactSum()
    if not np.isfinite(v).all():
        raise ValueError("exact_sum needs finite values")
    mant, exp = np.frexp(v)
    m = (mant * float(1 << 53)).astype(np.int64)  # exact: a float64 has 53 significant bits
    e = exp.astype(np.int64) - 53
    base = int(e.min())
    index = e - base  # < 2100 distinct exponents
    n_bins = int(index.max()) + 1
    high = (m >> _HALF).astype(np.float64)
    low = (m & ((1 << _HALF) - 1)).astype(np.float64)
    H = np.zeros(n_bins, dtype=object)
    L = np.zeros(n_bins, dtype=object)
    for lo in range(0, v.size, _EXACT_ROWS):
        part = slice(lo, lo + _EXACT_ROWS)
        H += np.bincount(index[part], weights=high[part], minlength=n_bins).astype(np.int64).astype(object)
        L += np.bincount(index[part], weights=low[part], minlength=n_bins).astype(np.int64).astype(object)
    total = 0
    for k in np.flatnonzero((H != 0) | (L != 0)):
        total += ((int(H[k]) << _HALF) + int(L[k])) << int(k)
    return ExactSum(v.size, total, base)
