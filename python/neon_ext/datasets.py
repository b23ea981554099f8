"""Small real datasets shipped with the package (no network needed)."""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["load_wine"]


def load_wine():
    """The UCI wine data: 178 wines, 13 chemical measurements, 3 cultivars.

    Returns
    -------
    X : ndarray of float64, shape (178, 13)
    cultivar : ndarray of int64, shape (178,)
    feature_names : list of str

    Licence CC BY 4.0; see ``neon_ext/data/WINE_ATTRIBUTION.txt``.
    """
    with resources.files("neon_ext").joinpath("data/wine.csv").open("r", encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    return table[:, :-1].copy(), table[:, -1].astype(np.int64), header[:-1]
