"""docs/methods.md §1 invariants of residual smoothing."""

import math

import pytest
import torch

import rsmooth
from rsmooth.config import RunConfig
from rsmooth.methods.losses import mse
from rsmooth.methods.smoothing import diffusivity, smooth, smoothing_scale

DISTS = ["laplace", "logistic"]


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 10, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, 10, (16,), generator=g)
    return logits, labels


@pytest.mark.parametrize("dist", DISTS)
@pytest.mark.parametrize("b", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("mu", [0.25, 0.75])
def test_anneal_peak_symmetry_and_monotone(dist, b, mu):
    assert rsmooth.anneal(mu, dist, mu, b) == pytest.approx(1.0)
    for delta in (0.05, 0.1, 0.2, 0.3):
        left, right = (
            rsmooth.anneal(mu - delta, dist, mu, b),
            rsmooth.anneal(mu + delta, dist, mu, b),
        )
        assert left == pytest.approx(right)
        assert 0 < right < 1
    values = [rsmooth.anneal(mu + d, dist, mu, b) for d in (0.0, 0.1, 0.2, 0.4)]
    assert values == sorted(values, reverse=True)


def test_anneal_closed_forms():
    u, mu, b = 0.3, 0.75, 0.5
    assert rsmooth.anneal(u, "laplace", mu, b) == pytest.approx(math.exp(-abs(u - mu) / b))
    x = (u - mu) / (2 * b)
    assert rsmooth.anneal(u, "logistic", mu, b) == pytest.approx(1 / math.cosh(x) ** 2)
    # far from the peak the logistic must not overflow
    assert rsmooth.anneal(0.0, "logistic", 1.0, 1e-4) == pytest.approx(0.0)
    assert rsmooth.anneal(0.1, "constant") == 1.0
    with pytest.raises(ValueError):
        rsmooth.anneal(0.1, "gauss")


def test_kappa_zero_gives_mse_baseline(batch):
    logits, labels = batch
    smoothed = rsmooth.residual_smoothing_loss(logits, labels, s=0.0, alpha=1.0)
    baseline = mse(logits, torch.nn.functional.one_hot(labels, 10).double()).mean()
    assert smoothed.item() == pytest.approx(baseline.item(), rel=1e-12)
    p = torch.softmax(logits, 1)
    by_hand = ((p - torch.nn.functional.one_hot(labels, 10)) ** 2).sum(1).mean()
    assert smoothed.item() == pytest.approx(by_hand.item(), rel=1e-12)


@pytest.mark.parametrize("s", [0.1, 0.5, 1.0])
def test_global_scheme_conserves_mass(batch, s):
    logits, labels = batch
    d = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(labels, 10)).abs()
    kappa = diffusivity(d, s, alpha=0.0)
    assert torch.allclose(kappa, torch.full_like(kappa, s / 2))
    for layers in (1, 3):
        r = smooth(d, kappa, layers)
        assert torch.allclose(r.sum(1), d.sum(1), rtol=1e-12)


def test_population_std_normalization(batch):
    logits, labels = batch
    d = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(labels, 10)).abs()
    # kappa = s * sigmoid(alpha * dn): recover dn and check it has mean 0 and population std 1
    kappa = diffusivity(d, 1.0, alpha=1.0)
    dn = torch.logit(kappa)
    assert torch.allclose(dn.mean(1), torch.zeros(16, dtype=d.dtype), atol=1e-9)
    assert torch.allclose(dn.std(1, correction=0), torch.ones(16, dtype=d.dtype), atol=1e-6)
    assert not torch.allclose(dn.std(1), torch.ones(16, dtype=d.dtype), atol=1e-3)


def test_smoothing_matrix_matches_dense_w(batch):
    logits, labels = batch
    d = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(labels, 10)).abs()
    kappa = diffusivity(d, 0.8, alpha=2.0)
    for i in range(3):
        w = (kappa[i] / 9).unsqueeze(1).expand(10, 10).clone()
        w.fill_diagonal_(0)
        w += torch.diag(1 - kappa[i])
        assert torch.allclose(smooth(d[i : i + 1], kappa[i : i + 1])[0], w @ d[i])


def test_loss_by_hand_and_detach(batch):
    logits, labels = batch
    logits = logits.clone().requires_grad_(True)
    s, alpha = 0.7, 1.0
    loss = rsmooth.residual_smoothing_loss(logits, labels, s, alpha, detach_kappa=True)
    p = torch.softmax(logits, 1)
    d = (p - torch.nn.functional.one_hot(labels, 10)).abs()
    dn = (d - d.mean(1, keepdim=True)) / (d.std(1, keepdim=True, correction=0) + 1e-8)
    kappa = (s / (1 + torch.exp(-alpha * dn))).detach()
    r = (1 - kappa) * d + kappa / 9 * (d.sum(1, keepdim=True) - d)
    expected = (r**2).sum(1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    g_detached = torch.autograd.grad(loss, logits)[0]
    g_through = torch.autograd.grad(
        rsmooth.residual_smoothing_loss(logits, labels, s, alpha, detach_kappa=False), logits
    )[0]
    assert not torch.allclose(g_detached, g_through)


def test_probability_targets_equal_index_targets(batch):
    logits, labels = batch
    onehot = torch.nn.functional.one_hot(labels, 10).double()
    a = rsmooth.residual_smoothing_loss(logits, labels, 0.5, 1.0)
    b = rsmooth.residual_smoothing_loss(logits, onehot, 0.5, 1.0)
    assert a.item() == pytest.approx(b.item())


def test_module_matches_function(batch):
    logits, labels = batch
    crit = rsmooth.ResidualSmoothingLoss(alpha=2.0, layers=2)
    assert crit(logits, labels, 0.3).item() == pytest.approx(
        rsmooth.residual_smoothing_loss(logits, labels, 0.3, 2.0, layers=2).item()
    )


@pytest.mark.parametrize("anneal", ["laplace", "logistic", "constant"])
def test_smoothing_scale_is_a_pure_function_of_the_step(anneal):
    cfg = RunConfig(anneal=anneal, b=0.3, s0=0.4)
    total = 1000
    values = [smoothing_scale(cfg, t, total) for t in range(0, total, 50)]
    assert values == [smoothing_scale(cfg, t, total) for t in range(0, total, 50)]
    if anneal == "constant":
        assert set(values) == {0.4}
    else:
        assert smoothing_scale(cfg, 750, total) == pytest.approx(1.0)
        assert max(values) == pytest.approx(1.0)
    assert smoothing_scale(RunConfig(), 500, total) == 0.0
