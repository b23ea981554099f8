"""NEON relevance on the input of a neural feature extractor: NEON on the
features, then zennit's LRP rules back through the network."""

from __future__ import annotations

import warnings

import torch
from zennit.attribution import Gradient
from zennit.core import Composite

import neon_ext
from neon_ext.torch._features import explain_features

__all__ = ["NetworkExplanation", "explain"]


class NetworkExplanation:
    """The NEON explanation of clusters of network features, on the network's input.

    Attributes
    ----------
    relevance : torch.Tensor, shape of the input batch
        Relevance of every input element (e.g. pixel), detached, on the
        input's device. It sums per row to the logit as far as the
        composite's rules conserve relevance (LRP-0/epsilon on bias-free
        layers, z+, flat, z^B do; biases and stabilizers absorb a little).
        ``.cpu().numpy()`` gives numpy.
    features : neon_ext.Explanation
        The core's explanation of the features a = Psi(x) (numpy): its
        ``relevance`` (N, D) is exactly what entered the network's backward
        pass and sums to the logit up to the rounding of the features' dtype;
        ``data`` holds the features.
    logit, target, assigned, beta
        Those of ``features``: the explained cluster logit f_c(a) per row,
        the explained and the assigned cluster, the soft-min stiffness.
    """

    __slots__ = ("features", "relevance")

    def __init__(self, relevance: torch.Tensor, features):
        self.relevance = relevance
        self.features = features

    @property
    def logit(self):
        return self.features.logit

    @property
    def target(self):
        return self.features.target

    @property
    def assigned(self):
        return self.features.assigned

    @property
    def beta(self) -> float:
        return self.features.beta

    def __len__(self) -> int:
        return self.relevance.shape[0]

    def __repr__(self) -> str:
        return (
            f"NetworkExplanation(n_samples={len(self)}, input_shape={tuple(self.relevance.shape[1:])}, "
            f"n_features={self.features.relevance.shape[1]}, beta={self.beta:.6g})"
        )


def _batch_dependent(module: torch.nn.Module) -> bool:
    """Whether a dropout or batch norm layer of ``module`` is in training mode."""
    kinds = (torch.nn.modules.dropout._DropoutNd, torch.nn.modules.batchnorm._BatchNorm)
    return any(m.training and isinstance(m, kinds) for m in module.modules())


def explain(feature_extractor, model, x, target=None, *, composite, beta=None, n_threads=None) -> NetworkExplanation:
    """Explain cluster assignments of network features in terms of the network's input.

    The features a = Psi(x) of the batch are explained by NEON in the compiled
    core (the relevance of each feature for the target cluster's logit,
    NEON_SPEC.md section 1 or 2); that relevance is the output attribution
    from which zennit's :class:`~zennit.attribution.Gradient` attributor, with
    the rules of ``composite``, propagates relevance back to x (LRP; in
    zennit, the gradient that reaches a rule-hooked layer is its output
    relevance, so the backward pass starts from exactly NEON's relevance).

    Parameters
    ----------
    feature_extractor : torch.nn.Module
        Psi, mapping a batch x (N, ...) to features (N, D). Put it in eval
        mode (a warning says so when dropout or batch norm layers are in
        training mode). The composite is registered on it for the call and
        removed afterwards. Operations that are not modules (functional
        calls in ``forward``) get no rule: zennit passes plain gradients
        through them.
    model : neuralized model or fitted k-means
        Anything :func:`neon_ext.neuralize` accepts, fitted on Psi's features.
    x : torch.Tensor, shape (N, ...)
        The batch, float32 (or float64 with a float64 network).
    target : None, int or array of int, shape (N,)
        The cluster to explain: None for each row's assigned cluster.
    composite : zennit.core.Composite
        The LRP rules for Psi's layers, e.g. ``EpsilonPlusFlat()``, or
        ``EpsilonGammaBox(low=..., high=...)`` for images with known pixel
        bounds; canonizers (batch norm merging) go into the composite.
    beta : float > 0, optional
        Soft-min stiffness over competitors; None uses the model's ``beta``
        if set, else the paper's heuristic on this batch's features (so
        fix it, e.g. ``model.beta_heuristic(train_features)``, for results
        that do not depend on the batch).
    n_threads : int, optional
        Threads of the compiled core.

    Returns
    -------
    NetworkExplanation
        ``relevance`` (a tensor shaped like x) and the core's explanation of
        the features.
    """
    model = neon_ext.neuralize(model)
    if not isinstance(feature_extractor, torch.nn.Module):
        raise TypeError(f"feature_extractor must be a torch.nn.Module, got {type(feature_extractor).__name__}")
    if not isinstance(composite, Composite):
        raise TypeError(
            f"composite must be a zennit composite (e.g. zennit.composites.EpsilonPlusFlat()), "
            f"got {type(composite).__name__}: without LRP rules the backward pass is a gradient, "
            "not a relevance"
        )
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1 or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point batch (N, ...), got dtype {x.dtype} and shape {tuple(x.shape)}")
    if _batch_dependent(feature_extractor):
        warnings.warn(
            "feature_extractor has dropout or batch norm layers in training mode (its features "
            "then depend on chance or on the batch); call .eval() first",
            UserWarning,
            stacklevel=2,
        )

    explained = []

    def attr_output(a):
        e, relevance = explain_features(model, a, target=target, beta=beta, n_threads=n_threads, n_rows=x.shape[0])
        explained.append(e)
        return relevance

    with torch.enable_grad():
        _, relevance = Gradient(feature_extractor, composite)(x.detach(), attr_output)
    return NetworkExplanation(relevance.detach(), explained[0])
