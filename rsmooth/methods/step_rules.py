"""Step rules: how one step's gradients are computed (docs/methods.md §4.1-4.2, §5).

A step rule is built from the config by its registered factory and called as
``rule(model, loss_fn, images, labels) -> (loss, logits)``, where ``loss_fn(images, labels)``
is the objective of the model's current weights: on entry every ``p.grad`` is
None; on return each trainable parameter's ``.grad`` holds the gradient the optimizer
should use, and ``loss``/``logits`` are those of the first (unperturbed) forward pass,
detached. The rule never calls the optimizer.

Two-pass rules (SAM, F-GR, B-GR) call ``loss_fn`` a second time on the same minibatch at
perturbed weights, so ``loss_fn`` must give the same objective on every call of a step
(no per-call state). The second pass normalizes with its own batch statistics but leaves
BatchNorm's running statistics as the first pass set them (``bn_stats_frozen``), and the
weights are restored bitwise from a saved copy. Norms stay on the device: no host sync.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor, nn

from rsmooth.config import RunConfig
from rsmooth.methods.bn import bn_stats_frozen
from rsmooth.registry import Registry

# (images, labels) -> (loss, logits) at the model's current weights
LossFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]

GR_METHODS = ("db", "forward", "backward")


class StepRule(Protocol):
    def __call__(
        self, model: nn.Module, loss_fn: LossFn, images: Tensor, labels: Tensor
    ) -> tuple[Tensor, Tensor]: ...


STEP_RULES: Registry[Callable[[RunConfig], StepRule]] = Registry(
    "step rule", "step_rule", labelled=True
)
GR_FIELDS = ("gr_gamma", "gr_eps", "gr_normalize")


def build_step_rule(cfg: RunConfig) -> StepRule:
    return STEP_RULES.get(cfg.step_rule)(cfg)


@STEP_RULES.register("plain")
def plain(cfg: RunConfig | None = None) -> StepRule:
    """One forward and one backward pass: the gradient of the minibatch loss."""

    def step(
        model: nn.Module, loss_fn: LossFn, images: Tensor, labels: Tensor
    ) -> tuple[Tensor, Tensor]:
        loss, logits = loss_fn(images, labels)
        loss.backward()
        return loss.detach(), logits.detach()

    return step


@STEP_RULES.register("sam", fields=("rho",))
def sam(cfg: RunConfig) -> StepRule:
    return sharpness_aware(rho=cfg.rho)


@STEP_RULES.register("gr-db", fields=("gr_gamma",))  # exact: no finite-difference step
def gr_db(cfg: RunConfig) -> StepRule:
    return gradient_regularization("db", gamma=cfg.gr_gamma)


@STEP_RULES.register("gr-forward", fields=GR_FIELDS)
def gr_forward(cfg: RunConfig) -> StepRule:
    return gradient_regularization(
        "forward", gamma=cfg.gr_gamma, eps=cfg.gr_eps, normalize=cfg.gr_normalize
    )


@STEP_RULES.register("gr-backward", fields=GR_FIELDS)
def gr_backward(cfg: RunConfig) -> StepRule:
    return gradient_regularization(
        "backward", gamma=cfg.gr_gamma, eps=cfg.gr_eps, normalize=cfg.gr_normalize
    )


def trainable(model: nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


# ----------------------------------------------------------------------
def sharpness_aware(rho: float = 0.05) -> StepRule:
    """SAM (Foret et al. 2021, docs/methods.md §4.2): the gradient at theta + rho * g / ||g||."""

    def step(
        model: nn.Module, loss_fn: LossFn, images: Tensor, labels: Tensor
    ) -> tuple[Tensor, Tensor]:
        loss, logits, params, grads = _first_pass(model, loss_fn, images, labels)
        if params:
            scale = rho / (global_norm(grads) + 1e-12)
            # g is not needed after the probe: turn it into the perturbation in place.
            with torch.no_grad():
                _scale_(grads, scale)
            _gradient_at_offset(model, loss_fn, images, labels, params, grads)
        return loss, logits

    return step


def gradient_regularization(
    method: str, gamma: float, eps: float = 0.01, normalize: bool = False
) -> StepRule:
    """Gradient regularization, the gradient of L + gamma/2 ||grad L||^2 (docs/methods.md §4.1).

    ``method``: ``db`` (exact double backprop), ``forward`` (F-GR: probe theta + h g) or
    ``backward`` (B-GR: probe theta - h g), with h = eps, or eps / ||g|| when ``normalize``.
    The finite differences divide by the same h they stepped, so they estimate H g either way.
    """
    if method not in GR_METHODS:
        raise ValueError(f"gradient regularization method {method!r} is not one of {GR_METHODS}")
    if gamma == 0:
        # The penalty vanishes: the gradient is exactly g, and the probe pass would be wasted.
        return plain()
    if method == "db":
        return _double_backprop(gamma)
    direction = 1.0 if method == "forward" else -1.0

    def step(
        model: nn.Module, loss_fn: LossFn, images: Tensor, labels: Tensor
    ) -> tuple[Tensor, Tensor]:
        loss, logits, params, grads = _first_pass(model, loss_fn, images, labels)
        if not params:
            return loss, logits
        with torch.no_grad():
            h = eps / (global_norm(grads) + 1e-12) if normalize else eps
            offset = [g.clone() for g in grads]
            _scale_(offset, direction * h)
        _gradient_at_offset(model, loss_fn, images, labels, params, offset)
        del offset
        # F-GR: (1 - gamma/h) g + (gamma/h) g2 = g + (gamma/h)(g2 - g);
        # B-GR: (1 + gamma/h) g - (gamma/h) g2 = g - (gamma/h)(g2 - g).
        probe_grads = [p.grad for p in params if p.grad is not None]
        with torch.no_grad():
            torch._foreach_sub_(probe_grads, grads)
            _scale_(probe_grads, direction * gamma / h)
            torch._foreach_add_(probe_grads, grads)
        return loss, logits

    return step


def _double_backprop(gamma: float) -> StepRule:
    """DB: g + gamma H g by differentiating gamma/2 ||g||^2 through the graph of g (≈ 3× SGD)."""

    def step(
        model: nn.Module, loss_fn: LossFn, images: Tensor, labels: Tensor
    ) -> tuple[Tensor, Tensor]:
        params = trainable(model)
        loss, logits = loss_fn(images, labels)
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        used = [(p, g) for p, g in zip(params, grads, strict=True) if g is not None]
        penalty = 0.5 * gamma * sum(g.square().sum() for _, g in used)
        if isinstance(penalty, Tensor) and penalty.requires_grad:
            penalty.backward()  # p.grad = gamma * H g
        with torch.no_grad():
            for p, g in used:
                if p.grad is None:  # g does not depend on p: H g has no entry here
                    p.grad = g.detach()
                else:
                    p.grad.add_(g.detach())
        return loss.detach(), logits.detach()

    return step


# ----------------------------------------------------------------------
def _scale_(tensors: list[Tensor], factor: Tensor | float) -> None:
    """Multiply in place by a Python number or a 0-d tensor on their device (no host sync)."""
    if isinstance(factor, Tensor):
        torch._foreach_mul_(tensors, factor)
    else:
        torch._foreach_mul_(tensors, factor)


def global_norm(tensors: Sequence[Tensor]) -> Tensor:
    """The L2 norm over all tensors together, as a 0-d tensor on their device."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(list(tensors))))


def _first_pass(
    model: nn.Module, loss_fn: LossFn, images: Tensor, labels: Tensor
) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor]]:
    """Loss, logits (detached), the parameters that received a gradient, and those gradients."""
    loss, logits = loss_fn(images, labels)
    loss.backward()
    params: list[Tensor] = [p for p in trainable(model) if p.grad is not None]
    grads = [p.grad for p in params if p.grad is not None]
    return loss.detach(), logits.detach(), params, grads


def _gradient_at_offset(
    model: nn.Module,
    loss_fn: LossFn,
    images: Tensor,
    labels: Tensor,
    params: list[Tensor],
    offset: list[Tensor],
) -> None:
    """Leave in ``p.grad`` the gradient at theta + offset on the same minibatch.

    BatchNorm running statistics are frozen for this pass, and theta is copied back from a
    saved copy (bitwise; subtracting the offset again would not be exact in floating point).
    """
    with torch.no_grad():
        saved = [torch.empty_like(p) for p in params]
        torch._foreach_copy_(saved, params)
        torch._foreach_add_(params, offset)
    for p in params:
        p.grad = None
    try:
        with bn_stats_frozen(model):
            probe_loss, _ = loss_fn(images, labels)
        probe_loss.backward()
    finally:
        with torch.no_grad():
            torch._foreach_copy_(params, saved)
