"""neon_ext.torch: NEON on network features, propagated to the input by zennit.

Skipped when PyTorch or zennit is not installed (the optional extra
``torch``; .ci/run does not install it). Run them in an environment with
``pip install torch zennit``.
"""

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the optional extra 'torch' (PyTorch) is not installed")
pytest.importorskip("zennit", reason="the optional extra 'torch' (zennit) is not installed")

import neon_ext as nx
import neon_ext.torch as nxt
import reference as ref
from zennit.attribution import Gradient
from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat, LayerMapComposite
from zennit.rules import Epsilon

EPS32 = float(np.finfo(np.float32).eps)


def conv_net(bias=True, n_features=6, seed=0):
    """A small ReLU convolutional feature extractor for 1 x 8 x 8 images."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1, bias=bias),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=bias),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, n_features, bias=bias),
        torch.nn.ReLU(),
    ).eval()


def linear_net(dtype=torch.float32, seed=0):
    """A bias-free linear network 8 -> 7 -> 5, on which LRP-0 conserves exactly."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 7, bias=False), torch.nn.Linear(7, 5, bias=False)).to(dtype).eval()


def lrp0():
    """LRP-0 on every Linear layer: zennit's epsilon rule with a stabilizer far
    below float32 resolution of the pre-activations (it only guards z == 0)."""
    return LayerMapComposite([(torch.nn.Linear, Epsilon(epsilon=1e-30))])


def features_of(psi, x):
    with torch.no_grad():
        return psi(x).numpy()


def model_on(features, n_clusters=4, seed=0, eps=None):
    """k-means fitted on the features, neuralized (with stabilizer ``eps``)."""
    centroids = nx.KMeans(n_clusters=n_clusters, random_state=seed, n_init=2).fit(features).cluster_centers_
    return nx.NeuralizedKMeans(centroids) if eps is None else nx.NeuralizedKMeans(centroids, eps=eps)


class Recorder(torch.nn.Module):
    """Psi, remembering the output attribution that reaches its output."""

    def __init__(self, psi):
        super().__init__()
        self.psi = psi
        self.grad = None

    def forward(self, x):
        a = self.psi(x)
        a.register_hook(self._store)
        return a

    def _store(self, grad):
        self.grad = grad.detach().clone()


def test_torch_inside_the_subpackage_is_pytorch():
    import neon_ext.torch._features as features

    assert features.torch is sys.modules["torch"]
    assert hasattr(features.torch, "nn") and "neon_ext" not in features.torch.__file__
    assert nxt.__name__ == "neon_ext.torch"


def test_feature_relevance_entering_the_network_equals_the_core():
    psi = conv_net()
    x = torch.rand(24, 1, 8, 8)
    a = features_of(psi, x)
    model = model_on(a)
    core = model.explain(a, beta=0.7)
    recorder = Recorder(psi)
    e = nxt.explain(recorder, model, x, composite=EpsilonPlusFlat(), beta=0.7)
    np.testing.assert_array_equal(recorder.grad.numpy(), core.relevance)
    np.testing.assert_array_equal(e.features.relevance, core.relevance)
    np.testing.assert_array_equal(e.features.data, a)
    np.testing.assert_array_equal(e.logit, core.logit)
    np.testing.assert_array_equal(e.assigned, core.assigned)
    assert e.beta == 0.7 and e.relevance.dtype == torch.float32


@pytest.mark.parametrize("target", [None, 2, "array"])
def test_lrp0_bias_free_linear_network_conserves_the_logit(target):
    psi = linear_net()
    x = torch.randn(40, 8)
    a = features_of(psi, x)
    model = model_on(a)
    if isinstance(target, str):
        target = np.random.default_rng(1).integers(model.n_clusters, size=len(x))
    e = nxt.explain(psi, model, x, target, composite=lrp0(), beta=0.5)
    R = e.relevance.numpy().astype(np.float64)
    total = R.sum(1)
    scale = np.abs(R).sum(1) + np.abs(e.features.relevance).sum(1)
    assert np.all(np.abs(total - e.logit) <= 10 * EPS32 * scale)
    if target is not None:
        assert np.all(e.target == target) and np.any(e.logit < 0)

    # Independent float64 reference: NEON from the equations, then LRP-0,
    # R_in = a_in * W^T (R_out / z), layer by layer.
    targets = e.target
    R_ref, f_ref = ref.kmeans_explain(a, model.centroids, targets, 0.5)
    W1, W2 = (layer.weight.detach().double().numpy() for layer in psi)
    x64 = x.double().numpy()
    z1 = x64 @ W1.T
    R1 = z1 * ((R_ref / (z1 @ W2.T)) @ W2)
    R0 = x64 * ((R1 / z1) @ W1)
    np.testing.assert_allclose(e.logit, f_ref, rtol=1e-5, atol=1e-5 * np.abs(f_ref).max())
    err = np.abs(R - R0).max(1)
    assert np.all(err <= 1e-4 * scale), err / scale


def test_lrp0_float64_network_conserves_to_float64_rounding():
    psi = linear_net(torch.float64)
    x = torch.randn(30, 8, dtype=torch.float64)
    a = features_of(psi, x)
    # eps=0: the core's stabilizer (relative 1e-12) would shift each h_k by
    # up to 1e-11 here; this test is about the network, the data are in
    # general position (no h_k near 0).
    model = model_on(a, eps=0.0)
    e = nxt.explain(psi, model, x, composite=lrp0(), beta=0.5)
    assert e.relevance.dtype == torch.float64 and e.features.relevance.dtype == np.float64
    R = e.relevance.numpy()
    R_ref, f_ref = ref.kmeans_explain(a, model.centroids, e.target, 0.5)
    W1, W2 = (layer.weight.detach().numpy() for layer in psi)
    z1 = x.numpy() @ W1.T
    R0 = x.numpy() * (((z1 * ((R_ref / (z1 @ W2.T)) @ W2)) / z1) @ W1)
    scale = np.abs(R0).sum(1)
    np.testing.assert_allclose(e.logit, f_ref, rtol=1e-12)
    assert np.all(np.abs(R.sum(1) - e.logit) <= 1e-12 * scale)
    assert np.all(np.abs(R - R0).max(1) <= 1e-10 * scale)


def test_kernel_kmeans_on_features_conserves_through_lrp0():
    psi = linear_net()
    x = torch.randn(30, 8)
    a = features_of(psi, x)
    labels = np.arange(len(a)) % 3
    model = nx.NeuralizedKernelKMeans(a[::2], labels[::2], gamma=0.5)
    e = nxt.explain(psi, model, x, composite=lrp0(), beta=1.0)
    np.testing.assert_array_equal(e.features.relevance, model.explain(a, beta=1.0).relevance)
    R = e.relevance.numpy().astype(np.float64)
    scale = np.abs(R).sum(1) + np.abs(e.features.relevance).sum(1)
    assert np.all(np.abs(R.sum(1) - e.logit) <= 10 * EPS32 * scale)


def test_relu_conv_network_with_zennit_composites_runs_on_a_batch():
    psi = conv_net(bias=True)
    x = torch.rand(16, 1, 8, 8)
    model = model_on(features_of(psi, torch.rand(120, 1, 8, 8)), n_clusters=3)
    for composite in (EpsilonPlusFlat(), EpsilonGammaBox(low=0.0, high=1.0)):
        e = nxt.explain(psi, model, x, composite=composite)
        assert e.relevance.shape == x.shape and e.relevance.dtype == torch.float32
        assert torch.isfinite(e.relevance).all()
        assert e.logit.shape == (16,) and e.features.relevance.shape == (16, 6)
        assert not e.relevance.requires_grad
    assert "NetworkExplanation(n_samples=16, input_shape=(1, 8, 8), n_features=6" in repr(e)


def test_relu_conv_network_without_biases_conserves_under_epsilon_plus_flat():
    # flat (first layer), z+ (convolutions) and epsilon (dense) conserve on
    # bias-free layers up to their stabilizers (here 1e-9, below the
    # pre-activations of this small network) and except where a z+
    # denominator vanishes; random positive images keep these away.
    psi = conv_net(bias=False)
    x = torch.rand(16, 1, 8, 8) + 0.1
    model = model_on(features_of(psi, torch.rand(120, 1, 8, 8) + 0.1), n_clusters=3)
    e = nxt.explain(psi, model, x, composite=EpsilonPlusFlat(epsilon=1e-9, stabilizer=1e-9))
    total = e.relevance.double().sum((1, 2, 3)).numpy()
    scale = np.abs(e.features.relevance).sum(1)
    assert np.all(np.abs(total - e.logit) <= 1e-4 * scale)


def test_head_backward_starts_from_exactly_the_core_relevance():
    a_np = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    model = model_on(a_np, n_clusters=3)
    head = nxt.NeonHead(model, beta=0.3)
    a = torch.from_numpy(a_np).requires_grad_()
    out = head(a)
    core = model.explain(a_np, beta=0.3)
    np.testing.assert_array_equal(out.detach().numpy(), core.logit)
    (grad,) = torch.autograd.grad(out, a, grad_outputs=out.detach(), retain_graph=True)
    np.testing.assert_array_equal(grad.numpy(), core.relevance)
    (ones,) = torch.autograd.grad(out, a, grad_outputs=torch.ones_like(out))
    np.testing.assert_allclose(ones.sum(1).numpy(), 1.0, rtol=1e-4)
    assert head.explanation_.beta == 0.3


def test_head_on_a_decision_boundary_hands_on_zeros():
    model = nx.NeuralizedKMeans(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 5.0]]))
    a = torch.tensor([[1.0, -1.0], [0.2, 0.1]], requires_grad=True)  # row 0: equidistant from 0 and 1
    out = nxt.NeonHead(model, beta=1.0)(a)
    assert out[0].item() == 0.0
    (grad,) = torch.autograd.grad(out, a, grad_outputs=torch.ones_like(out))
    assert torch.all(grad[0] == 0) and torch.isfinite(grad).all()


def test_sequential_with_head_under_zennit_equals_explain():
    psi = conv_net()
    x = torch.rand(12, 1, 8, 8)
    model = model_on(features_of(psi, torch.rand(100, 1, 8, 8)), n_clusters=3)
    e = nxt.explain(psi, model, x, 1, composite=EpsilonPlusFlat(), beta=2.0)
    head = nxt.NeonHead(model, 1, beta=2.0)
    out, R = Gradient(torch.nn.Sequential(psi, head), EpsilonPlusFlat())(x)  # attr_output: the output
    np.testing.assert_array_equal(out.detach().numpy(), e.logit)
    torch.testing.assert_close(R, e.relevance, rtol=0, atol=0)
    assert np.all(head.explanation_.target == 1)


def test_beta_none_uses_the_heuristic_on_the_batch_features():
    psi = linear_net()
    x = torch.randn(25, 8)
    a = features_of(psi, x)
    model = model_on(a)
    e = nxt.explain(psi, model, x, composite=lrp0())
    assert e.beta == pytest.approx(model.beta_heuristic(a), rel=1e-12)
    model.beta = 3.0
    assert nxt.explain(psi, model, x, composite=lrp0()).beta == 3.0


class Returns(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def test_bad_inputs_give_clear_errors():
    psi = linear_net()
    x = torch.randn(10, 8)
    model = model_on(features_of(psi, torch.randn(50, 8)), n_clusters=3)
    composite = lrp0()
    with pytest.raises(ValueError, match=r"shape \(10, 7\), but the clustering model expects \(n_samples, 5\)"):
        nxt.explain(psi[0], model, x, composite=composite)
    with pytest.raises(ValueError, match=r"shape \(10, 5, 1\).*torch.nn.Flatten"):
        nxt.explain(Returns(lambda t: psi(t)[..., None]), model, x, composite=composite)
    with pytest.raises(ValueError, match="returned 1 rows of features for a batch of 10"):
        nxt.explain(Returns(lambda t: psi(t)[:1]), model, x, composite=composite)
    with pytest.raises(TypeError, match="float32 or float64"):
        nxt.explain(Returns(lambda t: psi(t).to(torch.int32)), model, x, composite=composite)
    with pytest.raises(TypeError, match="must return a torch.Tensor, got tuple"):
        nxt.explain(Returns(lambda t: (psi(t),)), model, x, composite=composite)
    with pytest.raises(TypeError, match="cannot neuralize dict"):
        nxt.explain(psi, {"centroids": 1}, x, composite=composite)
    with pytest.raises(TypeError, match="cannot neuralize"):
        nxt.NeonHead(object())
    with pytest.raises(TypeError, match="composite must be a zennit composite.*got NoneType"):
        nxt.explain(psi, model, x, composite=None)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        nxt.explain(psi, model, x.numpy(), composite=composite)
    with pytest.raises(TypeError, match="x must be a floating-point batch"):
        nxt.explain(psi, model, torch.ones(10, 8, dtype=torch.int64), composite=composite)
    with pytest.raises(TypeError, match="feature_extractor must be a torch.nn.Module, got function"):
        nxt.explain(lambda t: t, model, x, composite=composite)
    with pytest.raises(ValueError, match="target"):
        nxt.explain(psi, model, x, 7, composite=composite)
    with pytest.raises(ValueError, match="beta"):
        nxt.explain(psi, model, x, composite=composite, beta=-1.0)
    with pytest.raises(ValueError, match="finite|NaN"):
        nxt.explain(psi, model, torch.full((10, 8), float("nan")), composite=composite)
    dropout = torch.nn.Sequential(psi, torch.nn.Dropout(0.5))
    with pytest.warns(UserWarning, match=r"dropout or batch norm layers in training mode.*\.eval\(\)"):
        nxt.explain(dropout, model, x, composite=composite, beta=1.0)
