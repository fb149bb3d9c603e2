"""Step rules (docs/methods.md §4.1-4.2): SAM and the three GR variants, and the BatchNorm guard.

Generic invariants run over every registered rule; the maths is checked against closed forms
on a quadratic and against each other (finite differences -> double backprop) on a small
float64 network with BatchNorm.
"""

from __future__ import annotations

import copy
import functools

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsmooth.config import RunConfig
from rsmooth.methods.bn import bn_stats_frozen
from rsmooth.methods.step_rules import (
    STEP_RULES,
    build_step_rule,
    global_norm,
    gradient_regularization,
    sharpness_aware,
    trainable,
)

torch.set_num_threads(1)
DTYPE = torch.float64


# ---------------------------------------------------------------------- fixtures
def conv_net() -> nn.Module:
    """A tiny conv net with BatchNorm2d and BatchNorm1d, as the engine's models have."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Linear(8, 3),
    ).to(DTYPE)


def smooth_net() -> nn.Module:
    """Smooth (tanh) so that finite differences converge at their textbook order."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3)).to(DTYPE)


def image_batch() -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(2)
    images = torch.randn(12, 1, 6, 6, generator=generator, dtype=DTYPE)
    return images, torch.randint(0, 3, (12,), generator=generator)


def vector_batch() -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(16, 5, generator=generator, dtype=DTYPE)
    return inputs, torch.randint(0, 3, (16,), generator=generator)


def ce_loss(model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    logits = model(images)
    return F.cross_entropy(logits, labels), logits


class Quadratic(nn.Module):
    """L(theta) = 1/2 theta^T A theta - b^T theta over two parameter tensors (7 numbers)."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(4)
        root = torch.randn(7, 7, generator=generator, dtype=DTYPE)
        self.register_buffer("a", root @ root.T / 7 + torch.eye(7, dtype=DTYPE))
        self.register_buffer("b", torch.randn(7, generator=generator, dtype=DTYPE))
        self.matrix = nn.Parameter(torch.randn(2, 2, generator=generator, dtype=DTYPE))
        self.vector = nn.Parameter(torch.randn(3, generator=generator, dtype=DTYPE))

    def theta(self) -> Tensor:
        return torch.cat([self.matrix.flatten(), self.vector])

    def gradient(self, theta: Tensor) -> Tensor:
        return self.a @ theta - self.b


def quadratic_loss(model: Quadratic, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    theta = model.theta()
    return 0.5 * theta @ model.a @ theta - model.b @ theta, theta.unsqueeze(0)


def rule_for(name: str, **overrides) -> object:
    settings = {"rho": 0.05, "gr_gamma": 0.1, "gr_eps": 0.01, **overrides}
    return build_step_rule(RunConfig(step_rule=name, **settings))


def bound(loss_fn, model: nn.Module):
    """The step rules' loss_fn(images, labels): a model-aware test loss bound to ``model``."""
    return functools.partial(loss_fn, model)


def run_rule(rule, model: nn.Module, loss_fn, images: Tensor, labels: Tensor):
    loss, logits = rule(model, bound(loss_fn, model), images, labels)
    return loss, logits, [p.grad.detach().clone() for p in trainable(model)]


def flat_grads(model: nn.Module) -> Tensor:
    return torch.cat([p.grad.flatten() for p in trainable(model)])


def gradients_at(model: nn.Module, loss_fn, images, labels, offset: list[Tensor]) -> list[Tensor]:
    """Gradient at theta + offset, by hand: a train-mode copy moved by the offset."""
    moved = copy.deepcopy(model)
    with torch.no_grad():
        for p, e in zip(trainable(moved), offset, strict=True):
            p.add_(e)
    loss, _ = loss_fn(moved, images, labels)
    return list(torch.autograd.grad(loss, trainable(moved)))


def plain_gradients(model: nn.Module, loss_fn, images, labels) -> list[Tensor]:
    replica = copy.deepcopy(model)
    loss, _ = loss_fn(replica, images, labels)
    return list(torch.autograd.grad(loss, trainable(replica)))


# ---------------------------------------------------------------------- generic invariants
ALL_RULES = STEP_RULES.names()


@pytest.mark.parametrize("name", ALL_RULES)
def test_every_rule_fills_grads_restores_weights_and_returns_first_pass(name: str) -> None:
    model = conv_net().train()
    images, labels = image_batch()
    before = [p.detach().clone() for p in trainable(model)]
    reference = copy.deepcopy(model)
    expected_loss, expected_logits = ce_loss(reference, images, labels)

    loss, logits = rule_for(name)(model, bound(ce_loss, model), images, labels)

    for p, original in zip(trainable(model), before, strict=True):
        assert torch.equal(p.detach(), original), "parameters must be restored bitwise"
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == p.dtype
        assert torch.isfinite(p.grad).all()
    assert not loss.requires_grad and not logits.requires_grad
    assert torch.equal(loss, expected_loss.detach())
    assert torch.equal(logits, expected_logits.detach())


@pytest.mark.parametrize("name", ALL_RULES)
def test_every_rule_updates_batchnorm_statistics_exactly_once(name: str) -> None:
    model = conv_net().train()
    images, labels = image_batch()
    once = copy.deepcopy(model)
    once(images)  # one plain train-mode forward
    rule_for(name)(model, bound(ce_loss, model), images, labels)
    for (key, got), (_, want) in zip(
        model.state_dict().items(), once.state_dict().items(), strict=True
    ):
        assert torch.equal(got, want), f"{name}: {key} differs from one plain forward"


@pytest.mark.parametrize("name", ALL_RULES)
def test_every_rule_leaves_frozen_parameters_alone(name: str) -> None:
    model = conv_net().train()
    frozen = model[0].weight
    frozen.requires_grad_(False)
    before = frozen.detach().clone()
    images, labels = image_batch()
    rule_for(name)(model, bound(ce_loss, model), images, labels)
    assert frozen.grad is None and torch.equal(frozen, before)
    assert all(p.grad is not None for p in trainable(model))


@pytest.mark.parametrize("name", ALL_RULES)
def test_a_trainable_parameter_the_loss_does_not_use_gets_a_zero_gradient(name: str) -> None:
    model = conv_net().train()
    model.spare = nn.Parameter(torch.ones(3, dtype=DTYPE))  # a head the loss never reads
    images, labels = image_batch()
    rule = rule_for(name)
    for _ in range(2):  # and again: the rule keeps its buffers from one call to the next
        rule(model, bound(ce_loss, model), images, labels)
        assert torch.equal(model.spare.grad, torch.zeros(3, dtype=DTYPE))
        assert all(torch.isfinite(p.grad).all() for p in trainable(model))


def test_registry_lists_the_spec_rules() -> None:
    assert {"plain", "sam", "gr-db", "gr-forward", "gr-backward"} <= set(ALL_RULES)


def test_unknown_gr_method_is_refused() -> None:
    with pytest.raises(ValueError, match="central"):
        gradient_regularization("central", gamma=0.1)


# ---------------------------------------------------------------------- closed forms: quadratic
def test_sam_matches_hand_computation_on_a_quadratic() -> None:
    model = Quadratic()
    theta = model.theta().detach()
    g = model.gradient(theta)
    rho = 0.3
    expected = model.gradient(theta + rho * g / (g.norm() + 1e-12))
    sharpness_aware(rho)(model, bound(quadratic_loss, model), torch.empty(0), torch.empty(0))
    torch.testing.assert_close(flat_grads(model), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.theta().detach(), theta, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("method", "normalize"),
    [("db", False), ("forward", False), ("backward", False), ("forward", True), ("backward", True)],
)
def test_gr_is_gradient_plus_gamma_hessian_gradient_on_a_quadratic(method, normalize) -> None:
    # H = A is constant, so every variant is exact here: g + gamma A g.
    model = Quadratic()
    theta = model.theta().detach()
    g = model.gradient(theta)
    gamma = 0.05
    rule = gradient_regularization(method, gamma=gamma, eps=0.02, normalize=normalize)
    rule(model, bound(quadratic_loss, model), torch.empty(0), torch.empty(0))
    torch.testing.assert_close(flat_grads(model), g + gamma * model.a @ g, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["db", "forward", "backward"])
def test_gr_with_gamma_zero_is_the_plain_gradient(method: str) -> None:
    model = smooth_net().train()
    inputs, labels = vector_batch()
    expected = plain_gradients(model, ce_loss, inputs, labels)
    gradient_regularization(method, gamma=0.0, eps=0.01)(
        model, bound(ce_loss, model), inputs, labels
    )
    for p, want in zip(trainable(model), expected, strict=True):
        assert torch.equal(p.grad, want)


# ---------------------------------------------------------------------- network with BatchNorm
def test_sam_matches_hand_computation_on_a_network() -> None:
    model = smooth_net().train()
    inputs, labels = vector_batch()
    g = plain_gradients(model, ce_loss, inputs, labels)
    rho = 0.05
    scale = rho / (torch.linalg.vector_norm(torch.cat([t.flatten() for t in g])) + 1e-12)
    expected = gradients_at(model, ce_loss, inputs, labels, [scale * t for t in g])
    sharpness_aware(rho)(model, bound(ce_loss, model), inputs, labels)
    for p, want in zip(trainable(model), expected, strict=True):
        torch.testing.assert_close(p.grad, want, rtol=1e-10, atol=1e-12)


def test_forward_gr_with_gamma_equal_eps_is_the_gradient_at_theta_plus_eps_g() -> None:
    # (1 - gamma/eps) g + (gamma/eps) g2 = g2: unnormalized SAM with radius eps ||g||.
    model = smooth_net().train()
    inputs, labels = vector_batch()
    eps = 0.02
    g = plain_gradients(model, ce_loss, inputs, labels)
    expected = gradients_at(model, ce_loss, inputs, labels, [eps * t for t in g])
    _, _, got = run_rule(
        gradient_regularization("forward", gamma=eps, eps=eps), model, ce_loss, inputs, labels
    )
    for have, want in zip(got, expected, strict=True):
        torch.testing.assert_close(have, want, rtol=1e-9, atol=1e-12)
    g_norm = torch.linalg.vector_norm(torch.cat([t.flatten() for t in g]))
    _, _, sam_grads = run_rule(
        sharpness_aware(rho=float(eps * g_norm)), smooth_net().train(), ce_loss, inputs, labels
    )
    for have, want in zip(got, sam_grads, strict=True):
        torch.testing.assert_close(have, want, rtol=1e-9, atol=1e-12)


def test_normalized_forward_gr_with_gamma_equal_step_is_sam() -> None:
    # normalize: h = eps / ||g||; with gamma = h the result is g2, the gradient at
    # theta + eps g / ||g||: SAM with rho = eps.
    model = smooth_net().train()
    inputs, labels = vector_batch()
    eps = 0.05
    g = plain_gradients(model, ce_loss, inputs, labels)
    h = eps / (float(torch.linalg.vector_norm(torch.cat([t.flatten() for t in g]))) + 1e-12)
    rule = gradient_regularization("forward", gamma=h, eps=eps, normalize=True)
    _, _, got = run_rule(rule, model, ce_loss, inputs, labels)
    _, _, sam_grads = run_rule(
        sharpness_aware(rho=eps), smooth_net().train(), ce_loss, *vector_batch()
    )
    for have, want in zip(got, sam_grads, strict=True):
        torch.testing.assert_close(have, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("normalize", [False, True])
def test_normalized_and_plain_gr_match_their_formulas(normalize: bool) -> None:
    model = smooth_net().train()
    inputs, labels = vector_batch()
    gamma, eps = 0.1, 0.01
    g = plain_gradients(model, ce_loss, inputs, labels)
    g_norm = torch.linalg.vector_norm(torch.cat([t.flatten() for t in g]))
    h = eps / (g_norm + 1e-12) if normalize else torch.tensor(eps, dtype=DTYPE)
    for method, sign in (("forward", 1.0), ("backward", -1.0)):
        g2 = gradients_at(model, ce_loss, inputs, labels, [sign * h * t for t in g])
        rule = gradient_regularization(method, gamma=gamma, eps=eps, normalize=normalize)
        _, _, got = run_rule(rule, copy.deepcopy(model), ce_loss, inputs, labels)
        for have, g_i, g2_i in zip(got, g, g2, strict=True):
            if method == "forward":
                want = (1 - gamma / h) * g_i + (gamma / h) * g2_i
            else:
                want = (1 + gamma / h) * g_i - (gamma / h) * g2_i
            torch.testing.assert_close(have, want, rtol=1e-8, atol=1e-11)


def finite_difference_errors(method: str, normalize: bool, steps: list[float]) -> list[float]:
    inputs, labels = vector_batch()
    gamma = 0.1
    exact = smooth_net().train()
    gradient_regularization("db", gamma=gamma)(exact, bound(ce_loss, exact), inputs, labels)
    errors = []
    for eps in steps:
        model = smooth_net().train()
        gradient_regularization(method, gamma, eps, normalize)(
            model, bound(ce_loss, model), inputs, labels
        )
        errors.append(float(torch.linalg.vector_norm(flat_grads(model) - flat_grads(exact))))
    return errors


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("method", ["forward", "backward"])
def test_finite_difference_gr_approaches_double_backprop_linearly(method, normalize) -> None:
    # One-sided differences: error = gamma * h/2 * D^3L[g, g] + O(h^2), so halving eps halves it
    # (measured: ratios 1.995-2.004).
    errors = finite_difference_errors(method, normalize, [1e-2, 5e-3, 2.5e-3])
    assert errors[0] > 1e-6  # the test would be vacuous if the variants coincided with DB
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 1.8 < coarse / fine < 2.2


@pytest.mark.parametrize("normalize", [False, True])
def test_forward_and_backward_errors_cancel_to_second_order(normalize: bool) -> None:
    # Their mean is the central difference: the first-order terms have opposite signs.
    steps = [1e-2, 5e-3, 2.5e-3]
    inputs, labels = vector_batch()
    gamma = 0.1
    exact = smooth_net().train()
    gradient_regularization("db", gamma=gamma)(exact, bound(ce_loss, exact), inputs, labels)
    errors = []
    for eps in steps:
        central = 0
        for method in ("forward", "backward"):
            model = smooth_net().train()
            gradient_regularization(method, gamma, eps, normalize)(
                model, bound(ce_loss, model), inputs, labels
            )
            central = central + flat_grads(model) / 2
        errors.append(float(torch.linalg.vector_norm(central - flat_grads(exact))))
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 3.6 < coarse / fine < 4.4


def test_double_backprop_differentiates_through_batch_statistics() -> None:
    # d/dtheta of gamma/2 ||g||^2 by autograd of a scalar function, checked by central difference
    # of the penalty along a random direction.
    model = smooth_net().train()
    inputs, labels = vector_batch()
    gamma = 0.1
    gradient_regularization("db", gamma=gamma)(model, bound(ce_loss, model), inputs, labels)
    g = plain_gradients(model, ce_loss, inputs, labels)
    direction = [torch.randn_like(t) for t in g]

    def objective(delta: float) -> float:
        moved_g = gradients_at(model, ce_loss, inputs, labels, [delta * d for d in direction])
        moved = copy.deepcopy(model)
        with torch.no_grad():
            for p, d in zip(trainable(moved), direction, strict=True):
                p.add_(delta * d)
        loss, _ = ce_loss(moved, inputs, labels)
        return float(loss.detach()) + gamma / 2 * float(sum(t.square().sum() for t in moved_g))

    step = 1e-5
    numeric = (objective(step) - objective(-step)) / (2 * step)
    analytic = float(
        sum((p.grad * d).sum() for p, d in zip(trainable(model), direction, strict=True))
    )
    assert numeric == pytest.approx(analytic, rel=1e-6)


def test_global_norm_is_the_norm_of_all_numbers_together() -> None:
    tensors = [torch.tensor([3.0, 0.0]), torch.tensor([[4.0]]), torch.zeros(0)]
    assert float(global_norm(tensors)) == 5.0


# ---------------------------------------------------------------------- bn_stats_frozen
def test_frozen_batchnorm_normalizes_with_batch_statistics_and_keeps_buffers() -> None:
    model = conv_net().train()
    images, _ = image_batch()
    reference = copy.deepcopy(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with bn_stats_frozen(model):
        out = model(images)
    assert torch.equal(out, reference(images))  # same numbers as a normal train-mode pass
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    model(images)
    assert int(model[1].num_batches_tracked) == 1  # tracking is back on after the block


def test_frozen_batchnorm_restores_flags_after_an_error() -> None:
    model = conv_net().train()
    with pytest.raises(RuntimeError), bn_stats_frozen(model):
        raise RuntimeError("second pass failed")
    assert model[1].track_running_stats and model[5].track_running_stats


def test_frozen_batchnorm_leaves_eval_mode_and_cumulative_layers_correct() -> None:
    model = conv_net().train()
    model[1].eval()  # an eval-mode layer keeps normalizing with its running statistics
    model[5].momentum = None  # cumulative moving average
    images, _ = image_batch()
    model(images)
    reference = copy.deepcopy(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with bn_stats_frozen(model):
        out = model(images)
    assert torch.equal(out, reference(images))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not model[1].training and model[5].momentum is None
