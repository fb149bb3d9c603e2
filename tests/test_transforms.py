"""Gradient transforms (docs/methods.md §4.4): AGR on hand-made and on a model's gradients."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from rsmooth.config import RunConfig
from rsmooth.methods.transforms import GRAD_TRANSFORMS, agr_, build_grad_transform

torch.set_num_threads(1)


def with_grad(grad: Tensor) -> nn.Parameter:
    param = nn.Parameter(torch.zeros(grad.shape, dtype=grad.dtype))
    param.grad = grad
    return param


def agr_by_the_formula(grad: Tensor) -> Tensor:
    """The official rule per tensor, g - (|g| / sum|g|) g, with the zero-sum Decision."""
    total = grad.abs().sum()
    if total == 0:
        return grad.clone()
    return grad - grad.abs() / total * grad


def test_registry_builds_agr_and_none() -> None:
    assert {"none", "agr"} <= set(GRAD_TRANSFORMS.names())
    param = with_grad(torch.tensor([1.0, -3.0]))
    build_grad_transform(RunConfig(grad_transform="none"))([param])
    assert torch.equal(param.grad, torch.tensor([1.0, -3.0]))
    build_grad_transform(RunConfig(grad_transform="agr"))([param])
    assert torch.equal(param.grad, torch.tensor([0.75, -0.75]))


@pytest.mark.parametrize("name", GRAD_TRANSFORMS.names())
def test_every_transform_rewrites_gradients_in_place_and_nothing_else(name: str) -> None:
    """The transform contract: ``transform(params)`` changes ``p.grad`` in place (same tensor,
    shape, dtype, finite), leaves parameters without a gradient alone, and never the weights."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    model(torch.randn(5, 4)).square().sum().backward()
    frozen = torch.nn.Parameter(torch.ones(3))  # no gradient
    params = [*model.parameters(), frozen]
    weights = [p.detach().clone() for p in params]
    grads = [p.grad for p in params]
    build_grad_transform(RunConfig(grad_transform=name))(params)
    for p, weight, grad in zip(params, weights, grads, strict=True):
        assert torch.equal(p.detach(), weight)
        assert p.grad is grad  # in place: the optimizer reads the same tensors
        if grad is not None:
            assert torch.isfinite(grad).all()
    assert frozen.grad is None


def test_known_three_element_vector() -> None:
    # sum|g| = 6, alpha = (1/6, 2/6, 3/6): g - alpha g = (5/6, -4/3, 3/2)
    param = with_grad(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    agr_([param])
    expected = torch.tensor([5 / 6, -4 / 3, 3 / 2], dtype=torch.float64)
    torch.testing.assert_close(param.grad, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("value", [2.5, -0.1, 1e-30])
def test_one_element_tensor_gradient_becomes_zero(value: float) -> None:
    param = with_grad(torch.tensor([value]))
    agr_([param])
    assert param.grad.item() == 0.0


def test_zero_gradient_stays_zero_without_nan() -> None:
    zero = with_grad(torch.zeros(4, 3))
    other = with_grad(torch.tensor([1.0, 1.0]))
    agr_([zero, other])
    assert torch.equal(zero.grad, torch.zeros(4, 3))
    assert torch.equal(other.grad, torch.tensor([0.5, 0.5]))


def test_parameters_without_grad_are_skipped() -> None:
    idle = nn.Parameter(torch.ones(3))
    busy = with_grad(torch.tensor([2.0, 2.0]))
    agr_([idle, busy])
    assert idle.grad is None
    assert torch.equal(busy.grad, torch.tensor([1.0, 1.0]))
    agr_([])  # nothing to do


def test_each_tensor_uses_its_own_sum_whatever_its_memory_layout() -> None:
    generator = torch.Generator().manual_seed(0)
    grads = [
        torch.randn(6, 3, 3, 3, generator=generator).contiguous(memory_format=torch.channels_last),
        torch.randn(7, 5, generator=generator).T,  # dense but transposed
        torch.randn(10, 10, generator=generator)[::2, 1],  # gaps in memory
        torch.randn(4, dtype=torch.float64, generator=generator),  # another dtype
        torch.randn(1, generator=generator),
        torch.randn(3, 1, 2, generator=generator),
    ]
    params = [with_grad(g) for g in grads]
    expected = [agr_by_the_formula(g) for g in grads]
    layouts = [(p.grad.data_ptr(), p.grad.stride()) for p in params]
    agr_(params)
    for param, want, layout in zip(params, expected, layouts, strict=True):
        assert (param.grad.data_ptr(), param.grad.stride()) == layout, "in place on p.grad"
        assert param.grad.dtype == want.dtype
        torch.testing.assert_close(param.grad, want, rtol=1e-6, atol=1e-7)


def test_large_tensors_change_little_and_small_ones_much() -> None:
    # "the effect fades with tensor size" (docs/methods.md §4.4): alpha = |g| / sum|g| ~ 1 / size.
    generator = torch.Generator().manual_seed(1)
    big = with_grad(torch.randn(10_000, generator=generator))
    small = with_grad(torch.randn(3, generator=generator))
    before_big, before_small = big.grad.clone(), small.grad.clone()
    agr_([big, small])
    change_big = float((before_big - big.grad).norm() / before_big.norm())
    change_small = float((before_small - small.grad).norm() / before_small.norm())
    assert change_big < 1e-3 < 0.2 < change_small


def test_agr_on_a_model_keeps_the_direction_of_each_element() -> None:
    # alpha lies in [0, 1]: every element shrinks toward 0 without changing sign.
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(64, 2))
    model(torch.randn(5, 3, 6, 6)).square().sum().backward()
    before = [p.grad.clone() for p in model.parameters()]
    GRAD_TRANSFORMS.get("agr")()(list(model.parameters()))
    for p, old in zip(model.parameters(), before, strict=True):
        assert torch.all(p.grad * old >= 0)
        assert torch.all(p.grad.abs() <= old.abs())
        torch.testing.assert_close(p.grad, agr_by_the_formula(old), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kernel", ["_agr_foreach", "_agr_same_kind"])
def test_both_kernels_match_the_formula_on_every_layout(kernel: str) -> None:
    # agr_ picks the per-tensor foreach kernel on the CPU and the flat buffer on a GPU;
    # both must give the formula, in place, on any memory layout.
    from rsmooth.methods import transforms

    generator = torch.Generator().manual_seed(2)
    grads = [
        torch.randn(6, 3, 3, 3, generator=generator).contiguous(memory_format=torch.channels_last),
        torch.randn(7, 5, generator=generator).T,
        torch.randn(10, 10, generator=generator)[::2, 1],
        torch.zeros(4),
        torch.randn(1, generator=generator),
    ]
    expected = [agr_by_the_formula(g) for g in grads]
    pointers = [g.data_ptr() for g in grads]
    with torch.no_grad():
        getattr(transforms, kernel)(grads)
    assert [g.data_ptr() for g in grads] == pointers
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
