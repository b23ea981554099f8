"""NEON on a batch of network features: the step shared by :func:`explain`
and :class:`NeonHead`.

The features a = Psi(x) arrive as a torch tensor; the compiled core explains
them as numpy (float32 stays float32), and the relevance goes back as a
tensor of a's dtype on a's device, bit for bit what the core returned.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["explain_features"]

_FLOATS = (torch.float32, torch.float64)


def explain_features(model, a, *, target, beta, n_threads, n_rows=None):
    """NEON relevance of the features ``a`` (shape (N, D)) for the target logit.

    Returns ``(explanation, relevance)``: the core's :class:`~neon_ext.Explanation`
    on the features (numpy) and its relevance as a tensor like ``a``.
    ``n_rows`` is the batch size Psi was given, to check Psi kept it.
    """
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"the feature extractor must return a torch.Tensor, got {type(a).__name__}")
    D = model.n_features_in_
    if a.ndim != 2 or a.shape[1] != D:
        raise ValueError(
            f"the feature extractor returned features of shape {tuple(a.shape)}, but the clustering "
            f"model expects (n_samples, {D}): end the network with torch.nn.Flatten() or check that "
            "the model was fitted on these features"
        )
    if n_rows is not None and a.shape[0] != n_rows:
        raise ValueError(f"the feature extractor returned {a.shape[0]} rows of features for a batch of {n_rows} inputs")
    if a.dtype not in _FLOATS:
        raise TypeError(f"the features have dtype {a.dtype}; the feature extractor must return float32 or float64")
    features = a.detach().cpu().numpy()
    e = model.explain(features, target, beta=beta, n_threads=n_threads)
    # A copy: the tensor starts a backward pass, and the explanation's numpy
    # relevance must not be tied to whatever autograd does with it.
    relevance = torch.from_numpy(np.array(e.relevance)).to(device=a.device)
    return e, relevance
