"""neon_ext: exact, fast NEON explanations of cluster assignments.

NEON (neuralization-propagation; Kauffmann et al., "From Clustering to Cluster
Explanations via Neural Networks", IEEE TNNLS 2024) rewrites a k-means model
as a small neural network and redistributes its cluster logit onto the input
features, conserving it exactly.

>>> import neon_ext as nx
>>> m = nx.NeuralizedKMeans(centroids)          # doctest: +SKIP
>>> e = m.explain(X)                             # doctest: +SKIP
>>> e.relevance.sum(1) - e.logit                 # ~0  # doctest: +SKIP
"""

from __future__ import annotations

import logging

from . import _core, _moved, plotting
from .cluster import KernelKMeans, KMeans
from .datasets import load_wine
from .evaluation import baselines
from .evaluation import removal as evaluate
from .exceptions import ConvergenceWarning, NotFittedError
from .explanation import Explanation
from .io import load, save
from .models import NeuralizedKernelKMeans, NeuralizedKMeans, NeuralizedPipeline, neuralize

_moved.install(__name__)

__all__ = [
    "ConvergenceWarning",
    "Explanation",
    "KMeans",
    "KernelKMeans",
    "NeuralizedKMeans",
    "NeuralizedKernelKMeans",
    "NeuralizedPipeline",
    "NotFittedError",
    "build_info",
    "load",
    "load_wine",
    "neuralize",
    "plotting",
    "save",
    "__version__",
    "baselines",
    "evaluate",
]

# Written once, in pyproject.toml; the build compiles it into _core
# (CMakeLists.txt). The Python files and _core always come from one build, so
# this is the installed wheel's version -- and, in a source tree, that of the
# core built there, even if another copy of neon-ext is installed.
try:
    __version__: str = _core.__version__
except AttributeError:
    raise ImportError(
        f"{_core.__file__} has no __version__: it was built from older sources than "
        "this package; rebuild it (docs/development.md)"
    ) from None

logging.getLogger(__name__).addHandler(logging.NullHandler())


def build_info() -> dict:
    """How the compiled core was built and what it will use.

    Keys: ``openmp`` (False means every kernel runs on one thread),
    ``openmp_default_threads``, ``eigen_version``, ``eigen_simd``, ``compiler``,
    ``version`` (the package version), ``kernel_isas``, ``kernel_isa``,
    ``kernel_families``. A ``NEON_EXT_ISA`` that is not an instruction set
    this CPU runs is a ValueError here, as in every compiled call.
    """
    return dict(_core.build_info())


def __getattr__(name: str):
    # The module paths from before the subpackages (neon_ext.kmeans, ...): see _moved.py.
    return _moved.attribute(__name__, name)
