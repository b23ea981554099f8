"""Optional progress bars for long calls (tqdm, imported only when asked for).

The bar is advanced in Python between the row chunks of ``_chunks.py``; the
compiled loop never calls back, so a bar costs nothing inside the kernels.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["progress_bar"]


class _NoBar:
    """Stands in for a tqdm bar when no bar is shown."""

    def update(self, n: int = 1) -> None:
        pass

    def set_description(self, desc: str) -> None:
        pass

    def reset(self, total=None) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress_bar(enabled, total: int, desc: str, *, warn_missing: bool = True, **kwargs):
    """A ``tqdm.auto`` bar of `total` rows, or a do-nothing stand-in.

    Parameters
    ----------
    enabled : bool
        The caller's ``progress`` argument. False gives the stand-in.
    total : int
        Rows the bar counts up to.
    desc : str
        Text in front of the bar.
    warn_missing : bool
        Warn when a bar was asked for but tqdm is not installed (the Python
        API does; the command line stays quiet instead).
    **kwargs
        Passed to tqdm (e.g. ``file``).
    """
    if not isinstance(enabled, (bool, int, np.bool_)):
        raise TypeError(f"progress must be True or False, got {enabled!r}")
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if warn_missing:
            warnings.warn("progress=True needs tqdm (pip install tqdm); continuing without a bar", stacklevel=3)
        return _NoBar()
    options = {"unit": "row", "unit_scale": True, "dynamic_ncols": True, **kwargs}
    return tqdm(total=total, desc=desc, **options)
