"""The loss part: base losses, label smoothing, flooding (docs/methods.md §4.3, §4.6, §5)."""

import pytest
import torch

from rsmooth.config import RunConfig
from rsmooth.methods import LOSSES, build_loss


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 10, generator=g, dtype=torch.float64), torch.randint(
        0, 10, (8,), generator=g
    )


@pytest.mark.parametrize("name", LOSSES.names())
def test_base_loss_is_per_sample_nonnegative_and_minimal_at_target(name, batch):
    logits, labels = batch
    onehot = torch.nn.functional.one_hot(labels, 10).double()
    per_sample = LOSSES.get(name)(logits, onehot)
    assert per_sample.shape == (8,)
    assert (per_sample >= 0).all()
    confident = LOSSES.get(name)(onehot * 50, onehot)
    assert (confident < per_sample).all()


def test_ce_matches_torch(batch):
    logits, labels = batch
    obj = build_loss(RunConfig(loss="ce"), 10)
    assert obj(logits, labels, 0.0).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, labels).item()
    )


@pytest.mark.parametrize("loss", LOSSES.names())
def test_label_smoothing_targets(loss, batch):
    logits, labels = batch
    obj = build_loss(RunConfig(loss=loss, label_smoothing=0.1), 10)
    y = obj.targets(labels, torch.float64)
    assert torch.allclose(y.sum(1), torch.ones(8, dtype=torch.float64))
    assert y.max().item() == pytest.approx(0.9 + 0.01)
    assert y.min().item() == pytest.approx(0.01)
    if loss == "ce":
        assert obj(logits, labels, 0.0).item() == pytest.approx(
            torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1).item()
        )


def test_validation_loss_ignores_regularizers(batch):
    logits, labels = batch
    plain = build_loss(RunConfig(), 10)
    fancy = build_loss(RunConfig(anneal="logistic", label_smoothing=0.1, flood=0.5).resolve(), 10)
    assert fancy.validation_sum(logits, labels).item() == pytest.approx(
        plain.validation_sum(logits, labels).item()
    )
    assert fancy(logits, labels, 1.0).item() != pytest.approx(plain(logits, labels, 1.0).item())


@pytest.mark.parametrize("loss", LOSSES.names())
def test_flooding_ascends_below_the_flood_level(loss, batch):
    logits, labels = batch
    plain = build_loss(RunConfig(loss=loss), 10)
    base_value = plain(logits, labels, 0.0).item()
    for level, sign in ((base_value + 1.0, -1.0), (max(base_value - 0.1, 0.0), 1.0)):
        x = logits.clone().requires_grad_(True)
        flooded = build_loss(RunConfig(loss=loss, flood=level), 10)
        value = flooded(x, labels, 0.0)
        assert value.item() == pytest.approx(abs(base_value - level) + level)
        (g_flood,) = torch.autograd.grad(value, x)
        x2 = logits.clone().requires_grad_(True)
        (g_plain,) = torch.autograd.grad(plain(x2, labels, 0.0), x2)
        assert torch.allclose(g_flood, sign * g_plain)
