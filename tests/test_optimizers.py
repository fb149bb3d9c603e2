"""Optimizers (docs/methods.md §2, §4.4-4.5): every registered one builds from a resolved config and
descends; Adan matches the reference rule of Xie et al. 2022 (sail-sg/Adan, adan.py)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from rsmooth.config import RunConfig
from rsmooth.errors import ConfigError
from rsmooth.methods.optimizers import OPTIMIZERS, build_optimizer, missing_package
from rsmooth.parts import resolve

torch.set_num_threads(1)
DTYPE = torch.float64


def quadratic(theta: Tensor, center: Tensor, curvature: Tensor) -> Tensor:
    return 0.5 * (curvature * (theta - center).square()).sum()


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_builds_from_a_resolved_config_and_descends(name: str) -> None:
    cfg = resolve(RunConfig(optimizer=name))
    generator = torch.Generator().manual_seed(0)
    center = torch.randn(6, generator=generator, dtype=DTYPE)
    curvature = torch.linspace(0.5, 2.0, 6, dtype=DTYPE)
    theta = nn.Parameter(center + torch.randn(6, generator=generator, dtype=DTYPE))
    optimizer = build_optimizer([theta], cfg)
    assert optimizer.param_groups[0]["lr"] == cfg.lr
    assert optimizer.param_groups[0]["weight_decay"] == cfg.weight_decay

    losses = []
    for _ in range(3):
        optimizer.zero_grad(set_to_none=True)
        loss = quadratic(theta, center, curvature)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    losses.append(float(quadratic(theta.detach(), center, curvature)))
    assert all(later < earlier for earlier, later in zip(losses, losses[1:], strict=False))


# ---------------------------------------------------------------------- Adan
def tiny_problem_gradients(params: list[Tensor]) -> list[Tensor]:
    """Gradients of a small non-quadratic loss, so that gradient differences are not constant."""
    matrix, vector = (p.detach().requires_grad_(True) for p in params)
    target = torch.tensor([0.5, -1.0, 2.0], dtype=DTYPE)
    loss = torch.sin(matrix).sum() + 0.5 * (matrix @ vector[:2] - target).square().sum()
    loss = loss + torch.log1p(vector.square()).sum()
    return list(torch.autograd.grad(loss, [matrix, vector]))


def initial_params() -> list[Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [
        torch.randn(3, 2, generator=generator, dtype=DTYPE),
        torch.randn(4, generator=generator, dtype=DTYPE),
    ]


def reference_adan(
    steps: int,
    lr: float,
    betas: tuple[float, float, float],
    eps: float,
    weight_decay: float,
    proximal: bool = True,
) -> list[Tensor]:
    """Adan as sail-sg/Adan's adan.py computes it (its betas are the decay factors of the
    moving averages, i.e. 1 - beta of the paper's notation):

    d = g - g_prev (0 at the first step)
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) d;  n = b3 n + (1 - b3) (g + b2 d)^2
    theta <- [theta - lr (m / (1 - b1^k) + b2 v / (1 - b2^k)) / (sqrt(n / (1 - b3^k)) + eps)]
             / (1 + lr wd)
    (no_prox False, the default; no_prox True multiplies theta by 1 - lr wd instead).
    """
    b1, b2, b3 = betas
    theta = [t.clone() for t in initial_params()]
    m = [torch.zeros_like(t) for t in theta]
    v = [torch.zeros_like(t) for t in theta]
    n = [torch.zeros_like(t) for t in theta]
    previous = None
    for k in range(1, steps + 1):
        grads = tiny_problem_gradients(theta)
        diffs = (
            [torch.zeros_like(g) for g in grads]
            if previous is None
            else [g - p for g, p in zip(grads, previous, strict=True)]
        )
        for i, (g, d) in enumerate(zip(grads, diffs, strict=True)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * d
            n[i] = b3 * n[i] + (1 - b3) * (g + b2 * d).square()
            denom = n[i].sqrt() / math.sqrt(1 - b3**k) + eps
            update = m[i] / (1 - b1**k) + b2 * v[i] / (1 - b2**k)
            if proximal:
                theta[i] = (theta[i] - lr * update / denom) / (1 + lr * weight_decay)
            else:
                theta[i] = theta[i] * (1 - lr * weight_decay) - lr * update / denom
        previous = grads
    return theta


def run_optimizer(optimizer_for, steps: int) -> list[Tensor]:
    params = [nn.Parameter(t.clone()) for t in initial_params()]
    optimizer = optimizer_for(params)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        for p, g in zip(params, tiny_problem_gradients(params), strict=True):
            p.grad = g
        optimizer.step()
    return [p.detach() for p in params]


STEPS = 6


@pytest.mark.parametrize("lr", [None, 0.05])  # the default 1e-3, and a step that moves far
def test_adan_as_built_matches_the_reference_rule(lr: float | None) -> None:
    cfg = resolve(RunConfig(optimizer="adan", lr=lr))
    assert cfg.weight_decay == 0.02  # sail-sg/Adan's default, nonzero so that decay is tested
    got = run_optimizer(lambda params: build_optimizer(params, cfg), STEPS)
    want = reference_adan(STEPS, cfg.lr, (0.98, 0.92, 0.99), 1e-8, cfg.weight_decay)
    start = initial_params()
    for have, expected, first in zip(got, want, start, strict=True):
        assert (have - first).abs().max() > cfg.lr  # it moved
        torch.testing.assert_close(have, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("foreach", [False, True])
def test_pytorch_optimizer_adan_matches_reference_on_both_code_paths(foreach: bool) -> None:
    # The builder leaves foreach to the library (batched on every device); CUDA runs the same
    # batched path, so both paths are pinned here.
    from pytorch_optimizer import Adan

    lr, wd = 0.05, 0.02
    got = run_optimizer(
        lambda params: Adan(
            params,
            lr=lr,
            betas=(0.98, 0.92, 0.99),
            eps=1e-8,
            weight_decay=wd,
            weight_decouple=False,
            foreach=foreach,
        ),
        STEPS,
    )
    want = reference_adan(STEPS, lr, (0.98, 0.92, 0.99), 1e-8, wd)
    for have, expected in zip(got, want, strict=True):
        torch.testing.assert_close(have, expected, rtol=1e-10, atol=1e-12)


def test_the_two_weight_decay_forms_are_distinguishable() -> None:
    # Otherwise the comparison above could not tell no_prox False from True.
    proximal = reference_adan(STEPS, 0.05, (0.98, 0.92, 0.99), 1e-8, 0.02, proximal=True)
    decoupled = reference_adan(STEPS, 0.05, (0.98, 0.92, 0.99), 1e-8, 0.02, proximal=False)
    assert max(float((a - b).abs().max()) for a, b in zip(proximal, decoupled, strict=True)) > 1e-7


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_an_optimizer_whose_package_is_missing_is_refused_in_one_line(name, monkeypatch) -> None:
    monkeypatch.setattr("rsmooth.methods.optimizers.find_spec", lambda module: None)
    package = OPTIMIZERS.get(name).package
    if package is None:  # torch's own: nothing else to install
        assert missing_package(name) is None
        resolve(RunConfig(optimizer=name))
        return
    assert missing_package(name) == package
    with pytest.raises(ConfigError, match=f"needs {package} \\(pip install {package}\\)") as err:
        resolve(RunConfig(optimizer=name))
    assert err.value.field == "optimizer" and "\n" not in str(err.value)
