"""NEON through neural feature extractors (PyTorch + zennit).

Clustering often happens on features a = Psi(x) of a neural network. NEON
explains the cluster logit in terms of those features (the compiled core,
NEON_SPEC.md section 1); Layer-wise Relevance Propagation carries that
relevance on through Psi to the network's input, with the rules of zennit
(Anders et al., "Software for Dataset-wide XAI", arXiv:2106.13200).
NEON_SPEC.md section 3 ("deep k-means").

>>> from neon_ext.torch import explain                          # doctest: +SKIP
>>> from zennit.composites import EpsilonGammaBox              # doctest: +SKIP
>>> e = explain(psi, model, images, composite=EpsilonGammaBox(low=0., high=1.))  # doctest: +SKIP
>>> e.relevance.sum((1, 2, 3)), e.logit                         # ~equal  # doctest: +SKIP

Needs the optional extra ``torch`` (``pip install "neon-ext[torch]"``):
PyTorch and zennit. ``import neon_ext`` itself never imports them. The
imports below are absolute, so ``torch`` here is PyTorch, not this package.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401  (PyTorch: absolute import, not neon_ext.torch)
    import zennit  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        f"neon_ext.torch needs PyTorch and zennit ({exc}); install them with pip install 'neon-ext[torch]'"
    ) from exc

from neon_ext.torch._explain import NetworkExplanation, explain
from neon_ext.torch._head import NeonHead

__all__ = ["NeonHead", "NetworkExplanation", "explain"]
