"""The cluster logit as a torch module whose backward pass is NEON."""

from __future__ import annotations

import torch

import neon_ext
from neon_ext.torch._features import explain_features

__all__ = ["NeonHead"]


class _NeonLogit(torch.autograd.Function):
    """Forward: the logit f_c(a) from the core. Backward: NEON's relevance of
    the features scaled by (output attribution / logit).

    With the output attribution equal to the logit itself (zennit's default
    ``attr_output``), grad / f is exactly 1 in IEEE arithmetic for every
    nonzero f, so the backward pass hands on the core's relevance bit for
    bit. A row with f = 0 (on a decision boundary) has zero relevance
    (NEON conserves f), and hands on zeros whatever the attribution.
    """

    @staticmethod
    def forward(ctx, a, logit, relevance):
        ctx.save_for_backward(logit, relevance)
        return logit.clone()

    @staticmethod
    def backward(ctx, grad):
        logit, relevance = ctx.saved_tensors
        nonzero = logit != 0
        scale = torch.where(nonzero, grad / torch.where(nonzero, logit, torch.ones_like(logit)), torch.zeros_like(grad))
        return relevance * scale[:, None], None, None


class NeonHead(torch.nn.Module):
    """A neuralized clustering model as the last layer of a network.

    ``NeonHead(model)(a)`` is the cluster logit f_c(a) = min_{k != c} h_k(a),
    h_k(a) = w_k^T a + b_k (NEON_SPEC.md section 1; kernel k-means likewise),
    for a batch of features a (shape (N, D)), computed by the compiled core.
    Its backward pass is not the gradient: like the rule hooks zennit puts on
    the layers of a network, it propagates relevance. Given the output
    attribution g (the tensor zennit's ``attr_output`` gives), it returns
    NEON's relevance of the features times g / f: with ``attr_output`` the
    output itself (zennit's default), exactly the core's relevance, which sums
    to the logit; with ones, relevance normalized to sum to 1.

    So ``torch.nn.Sequential(psi, NeonHead(model))`` works with zennit's
    attributors and composites; the composite's rules do not touch the head
    (it has no Linear or Conv layers). :func:`neon_ext.torch.explain` does the
    same with Psi alone and is the simpler entry point.

    Parameters
    ----------
    model : neuralized model or fitted k-means
        Anything :func:`neon_ext.neuralize` accepts, fitted on the features.
    target : None, int or array of int, shape (N,)
        The cluster to explain, as in :meth:`NeuralizedKMeans.explain`;
        an attribute, so it can be changed between calls.
    beta : float > 0, optional
        Soft-min stiffness over competitors; None uses the model's ``beta``
        if set, else the heuristic on each batch's features.
    n_threads : int, optional
        Threads of the compiled core.

    Attributes
    ----------
    explanation_ : neon_ext.Explanation or None
        The core's explanation of the features of the last forward call
        (relevance, logit, target, assigned, beta, as numpy).
    """

    def __init__(self, model, target=None, *, beta=None, n_threads=None):
        super().__init__()
        self.model = neon_ext.neuralize(model)
        self.target = target
        self.beta = beta
        self.n_threads = n_threads
        self.explanation_ = None

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        e, relevance = explain_features(self.model, a, target=self.target, beta=self.beta, n_threads=self.n_threads)
        self.explanation_ = e
        logit = torch.from_numpy(e.logit).to(device=a.device)
        return _NeonLogit.apply(a, logit, relevance)

    def extra_repr(self) -> str:
        return f"model={self.model!r}, target={self.target!r}, beta={self.beta!r}"
