"""The loss part (docs/methods.md §4.3, §4.6, §5): base losses, label smoothing, flooding, and
the objective of K runs, each run its own loss and options, against one run's."""

import pytest
import torch

from rsmooth.config import RunConfig
from rsmooth.methods import LOSSES, build_loss
from rsmooth.methods.losses import Objective
from rsmooth.parts import resolve


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 8, 10, generator=g, dtype=torch.float64), torch.randint(
        0, 10, (1, 8), generator=g
    )


def one(objective: Objective, logits, labels, s_t: float = 0.0) -> torch.Tensor:
    """The loss of a one-run objective (K = 1)."""
    return objective(logits, labels, torch.tensor([s_t], dtype=torch.float64))[0]


@pytest.mark.parametrize("name", LOSSES.names())
def test_base_loss_is_per_sample_nonnegative_and_minimal_at_target(name, batch):
    logits, labels = batch
    onehot = torch.nn.functional.one_hot(labels, 10).double()
    base = LOSSES.get(name)([RunConfig(loss=name)])
    per_sample = base(logits, onehot)
    assert per_sample.shape == (1, 8)
    assert (per_sample >= 0).all()
    confident = base(onehot * 50, onehot)
    assert (confident < per_sample).all()


def test_ce_matches_torch(batch):
    logits, labels = batch
    obj = build_loss(RunConfig(loss="ce"), 10)
    assert one(obj, logits, labels).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits[0], labels[0]).item()
    )


@pytest.mark.parametrize("loss", LOSSES.names())
def test_label_smoothing_targets(loss, batch):
    logits, labels = batch
    obj = build_loss(RunConfig(loss=loss, label_smoothing=0.1), 10)
    y = obj.targets(labels, logits)
    assert torch.allclose(y.sum(-1), torch.ones(1, 8, dtype=torch.float64))
    assert y.max().item() == pytest.approx(0.9 + 0.01)
    assert y.min().item() == pytest.approx(0.01)
    if loss == "ce":
        assert one(obj, logits, labels).item() == pytest.approx(
            torch.nn.functional.cross_entropy(logits[0], labels[0], label_smoothing=0.1).item()
        )


def test_validation_loss_ignores_regularizers(batch):
    logits, labels = batch
    plain = build_loss(RunConfig(), 10)
    fancy = build_loss(resolve(RunConfig(anneal="logistic", label_smoothing=0.1, flood=0.5)), 10)
    assert fancy.validation_sums(logits, labels[0]).item() == pytest.approx(
        plain.validation_sums(logits, labels[0]).item()
    )
    assert one(fancy, logits, labels, 1.0).item() != pytest.approx(
        one(plain, logits, labels, 1.0).item()
    )


@pytest.mark.parametrize("loss", LOSSES.names())
def test_flooding_ascends_below_the_flood_level(loss, batch):
    logits, labels = batch
    plain = build_loss(RunConfig(loss=loss), 10)
    base_value = one(plain, logits, labels).item()
    for level, sign in ((base_value + 1.0, -1.0), (max(base_value - 0.1, 0.0), 1.0)):
        x = logits.clone().requires_grad_(True)
        flooded = build_loss(RunConfig(loss=loss, flood=level), 10)
        value = one(flooded, x, labels)
        assert value.item() == pytest.approx(abs(base_value - level) + level)
        (g_flood,) = torch.autograd.grad(value, x)
        x2 = logits.clone().requires_grad_(True)
        (g_plain,) = torch.autograd.grad(one(plain, x2, labels), x2)
        assert torch.allclose(g_flood, sign * g_plain)


MIXED = [
    RunConfig(),
    resolve(RunConfig(anneal="laplace", b=0.9)),
    RunConfig(loss="ce", label_smoothing=0.1),
    RunConfig(flood=0.3),
    resolve(RunConfig(anneal="logistic", alpha=2.0, flood=0.1)),
    RunConfig(loss="ce"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_objective_of_k_runs_is_each_runs_own(dtype):
    # Mixed losses, smoothing on some runs only, label smoothing and flooding on others: each
    # run's loss and gradient are those of its own one-run objective, bit for bit.
    g = torch.Generator().manual_seed(5)
    k = len(MIXED)
    logits = torch.randn(k, 16, 10, generator=g, dtype=dtype).requires_grad_(True)
    labels = torch.randint(0, 10, (k, 16), generator=g)
    s_t = torch.tensor([0.0, 0.7, 0.0, 0.0, 0.3, 0.0], dtype=torch.float64)
    losses = Objective(MIXED, 10)(logits, labels, s_t)
    (grads,) = torch.autograd.grad(losses.sum(), logits)
    for run, cfg in enumerate(MIXED):
        own = logits[run : run + 1].detach().clone().requires_grad_(True)
        alone = build_loss(cfg, 10)(own, labels[run : run + 1], s_t[run : run + 1])[0]
        (own_grad,) = torch.autograd.grad(alone, own)
        assert torch.equal(losses[run].detach(), alone.detach()), cfg
        assert torch.equal(grads[run], own_grad[0]), cfg
    sums = Objective(MIXED, 10).validation_sums(logits.detach(), labels[0])
    for run, cfg in enumerate(MIXED):
        alone = build_loss(cfg, 10).validation_sums(logits[run : run + 1].detach(), labels[0])
        assert torch.equal(sums[run], alone[0]), cfg
