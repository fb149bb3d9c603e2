"""Step rules: how one step's gradients are computed (docs/methods.md §4.1-4.2, §5), written
once for K >= 1 runs stepped together.

A registered step rule is built from the configs of the runs it steps, each run's
hyperparameters (rho, gamma, eps) read per run, and called as ``rule(weights, loss_fn)``:
``loss_fn()`` gives the per-run losses (K,) and logits of this step's minibatch at the current
weights, ``weights`` is what the rule may touch of the model (``Weights``: the parameters
autograd differentiates, the gradient buffers the runs' optimizers read, each run's views of
them). On return ``weights.grads`` hold the gradients the optimizers should use, and the
losses and logits of the first (unperturbed) pass come back detached. The rule never calls an
optimizer. One run is K = 1; packed runs (rsmooth/models/packed.py) keep their one-run
semantics per run: each run's gradient norm, offset and combination are its own.

Two-pass rules (SAM, F-GR, B-GR) call ``loss_fn`` a second time on the same minibatch at
perturbed weights, so it must give the same objective on every call of a step (no per-call
state). The second pass normalizes with its own batch statistics but leaves BatchNorm's running
statistics as the first pass set them (``bn_stats_frozen``), and the weights are restored
bitwise from a saved copy. Norms stay on the device: no host sync.

For your own loop, ``sharpness_aware(rho)`` and ``gradient_regularization(...)`` return rules
called as ``rule(model, loss_fn, images, labels)`` on any model (docs/library.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor, nn

from rsmooth.config import RunConfig
from rsmooth.errors import ConfigError
from rsmooth.methods.bn import bn_stats_frozen
from rsmooth.registry import Registry, checks

# () -> (per-run losses (K,), logits) at the model's current weights, on this step's batch
StepLoss = Callable[[], tuple[Tensor, Tensor]]
# (images, labels) -> (loss, logits): the loss function of a loop of your own
LossFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]

GR_METHODS = ("db", "forward", "backward")


class Weights(Protocol):
    """What a step rule sees of the K runs it steps (rsmooth/engine/step.py's Pack)."""

    model: nn.Module  # the module whose BatchNorm statistics the second pass freezes
    params: list[Tensor]  # the tensors autograd differentiates
    grads: list[Tensor]  # gradient buffers laid out like params: what the optimizers read

    def per_run(self, tensors: Sequence[Tensor]) -> list[list[Tensor]]:
        """Each run's views of ``tensors`` (laid out like ``params``), in run order."""
        ...

    def buffer(self, name: str) -> list[Tensor]:
        """A persistent scratch buffer laid out like ``params`` (one per name)."""
        ...


class StepRule(Protocol):
    def __call__(self, weights: Weights, loss_fn: StepLoss) -> tuple[Tensor, Tensor]: ...


STEP_RULES: Registry[Callable[[Sequence[RunConfig]], StepRule]] = Registry(
    "step rule", "step_rule", labelled=True
)
GR_FIELDS = ("gr_gamma", "gr_eps", "gr_normalize")


def pack_step_rule(cfgs: Sequence[RunConfig]) -> StepRule:
    """The step rule of the runs ``cfgs`` (one pack runs one rule: step_rule is Shared)."""
    return STEP_RULES.get(cfgs[0].step_rule)(cfgs)


def build_step_rule(cfg: RunConfig) -> ModelRule:
    """The step rule of one run's config, for a loop of your own (docs/library.md)."""
    return ModelRule(pack_step_rule([cfg]))


# "gradient_evaluations": forward-backward passes per step, the cost `report --cost` shows.
@STEP_RULES.register("plain", gradient_evaluations=1)
def plain(cfgs: Sequence[RunConfig] = ()) -> StepRule:
    """One forward and one backward pass: the gradient of the minibatch loss."""

    def step(weights: Weights, loss_fn: StepLoss) -> tuple[Tensor, Tensor]:
        return gradients(weights, loss_fn, weights.grads)

    return step


@STEP_RULES.register("sam", fields=("rho",), gradient_evaluations=2)
def sam(cfgs: Sequence[RunConfig]) -> StepRule:
    return sharpness_aware_rule([c.rho for c in cfgs])


# Exact: no finite-difference step. A gradient with its graph, then the backward of the
# penalty through it: about 3 passes nominally; measured 3-9x a plain step (docs/performance.md).
@STEP_RULES.register("gr-db", fields=("gr_gamma",), gradient_evaluations=3)
def gr_db(cfgs: Sequence[RunConfig]) -> StepRule:
    return gradient_regularization_rule("db", [c.gr_gamma for c in cfgs])


@STEP_RULES.register("gr-forward", fields=GR_FIELDS, gradient_evaluations=2)
def gr_forward(cfgs: Sequence[RunConfig]) -> StepRule:
    gammas, epss = [c.gr_gamma for c in cfgs], [c.gr_eps for c in cfgs]
    return gradient_regularization_rule("forward", gammas, epss, [c.gr_normalize for c in cfgs])


@STEP_RULES.register("gr-backward", fields=GR_FIELDS, gradient_evaluations=2)
def gr_backward(cfgs: Sequence[RunConfig]) -> StepRule:
    gammas, epss = [c.gr_gamma for c in cfgs], [c.gr_eps for c in cfgs]
    return gradient_regularization_rule("backward", gammas, epss, [c.gr_normalize for c in cfgs])


@checks
def double_backward_is_not_compiled(cfg: RunConfig) -> None:
    if cfg.compile and cfg.step_rule == "gr-db":
        raise ConfigError(
            "compile", True, "false with step_rule gr-db (double backward is not compiled)"
        )


# ----------------------------------------------------------------------
def gradients(weights: Weights, loss_fn: StepLoss, into: list[Tensor]) -> tuple[Tensor, Tensor]:
    """One forward and backward pass: the gradients at the current weights land in ``into``;
    returns the detached losses and logits. d(sum of losses)/d(loss_k) = 1: each run gets
    exactly its own loss's gradient. A trainable tensor the loss does not use (a plugin
    model's spare head) gets a zero gradient: the optimizer still sees it (weight decay and
    momentum act on it, as on a parameter whose gradient happens to vanish)."""
    losses, logits = loss_fn()
    found = torch.autograd.grad(losses.sum(), weights.params, allow_unused=True)
    with torch.no_grad():
        used = [(buffer, g) for buffer, g in zip(into, found, strict=True) if g is not None]
        if len(used) < len(into):
            for buffer, g in zip(into, found, strict=True):
                if g is None:
                    buffer.zero_()
        torch._foreach_copy_([b for b, _ in used], [g for _, g in used])
    return losses.detach(), logits.detach()


def sharpness_aware_rule(rhos: Sequence[float]) -> StepRule:
    """SAM (Foret et al. 2021, docs/methods.md §4.2): each run's gradient at
    theta + rho * g / ||g||, with its own rho and norm."""

    def step(weights: Weights, loss_fn: StepLoss) -> tuple[Tensor, Tensor]:
        losses, logits = gradients(weights, loss_fn, weights.grads)
        # g is not needed after the probe: turn it into the perturbation in place.
        with torch.no_grad():
            for g, rho in zip(weights.per_run(weights.grads), rhos, strict=True):
                torch._foreach_mul_(g, rho / (global_norm(g) + 1e-12))
        gradient_at_offset(weights, loss_fn, weights.grads, into=weights.grads)
        return losses, logits

    return step


def gradient_regularization_rule(
    method: str,
    gammas: Sequence[float],
    epss: Sequence[float] = (),
    normalize: Sequence[bool] = (),
) -> StepRule:
    """Gradient regularization, the gradient of L + gamma/2 ||grad L||^2 (docs/methods.md
    §4.1), each run with its own gamma (and eps, normalize).

    ``method``: ``db`` (exact double backprop), ``forward`` (F-GR: probe theta + h g) or
    ``backward`` (B-GR: probe theta - h g), with h = eps, or eps / ||g|| when ``normalize``.
    The finite differences divide by the same h they stepped, so they estimate H g either way.
    """
    if method not in GR_METHODS:
        raise ValueError(f"gradient regularization method {method!r} is not one of {GR_METHODS}")
    if all(gamma == 0 for gamma in gammas):
        # The penalty vanishes: the gradient is exactly g, and the probe pass would be wasted.
        return plain()
    if method == "db":
        return _double_backprop(gammas)
    direction = 1.0 if method == "forward" else -1.0
    epss = list(epss) or [0.01] * len(gammas)
    normalize = list(normalize) or [False] * len(gammas)

    def step(weights: Weights, loss_fn: StepLoss) -> tuple[Tensor, Tensor]:
        losses, logits = gradients(weights, loss_fn, weights.grads)
        grads, probe = weights.per_run(weights.grads), weights.buffer("probe")
        steps: list[Tensor | float] = []
        with torch.no_grad():
            torch._foreach_copy_(probe, weights.grads)
            for g, offset, eps, normalized in zip(
                grads, weights.per_run(probe), epss, normalize, strict=True
            ):
                h = eps / (global_norm(g) + 1e-12) if normalized else eps
                steps.append(h)
                torch._foreach_mul_(offset, direction * h)
        gradient_at_offset(weights, loss_fn, probe, into=probe)
        # F-GR: g + (gamma/h)(g2 - g); B-GR: g - (gamma/h)(g2 - g).
        with torch.no_grad():
            for g, g2, h, gamma in zip(grads, weights.per_run(probe), steps, gammas, strict=True):
                if gamma == 0:  # this run's penalty vanishes: its gradient stays g
                    continue
                torch._foreach_sub_(g2, g)
                torch._foreach_mul_(g2, direction * gamma / h)
                torch._foreach_add_(g, g2)
        return losses, logits

    return step


def _double_backprop(gammas: Sequence[float]) -> StepRule:
    """DB: g + gamma H g, by differentiating gamma/2 ||g||^2 (each run its own) through the
    graph of g."""

    def step(weights: Weights, loss_fn: StepLoss) -> tuple[Tensor, Tensor]:
        losses, logits = loss_fn()
        found = torch.autograd.grad(
            losses.sum(), weights.params, create_graph=True, allow_unused=True
        )
        grads = [
            torch.zeros_like(p) if g is None else g
            for p, g in zip(weights.params, found, strict=True)
        ]
        penalty = sum(
            0.5 * gamma * sum(g.square().sum() for g in views)
            for views, gamma in zip(weights.per_run(grads), gammas, strict=True)
        )
        hessian_grads: Sequence[Tensor | None] = [None] * len(grads)
        if isinstance(penalty, Tensor) and penalty.requires_grad:
            hessian_grads = torch.autograd.grad(penalty, weights.params, allow_unused=True)
        with torch.no_grad():
            for buffer, g, hg in zip(weights.grads, grads, hessian_grads, strict=True):
                if hg is None:  # g does not depend on this tensor: H g has no entry here
                    buffer.copy_(g)
                else:
                    buffer.copy_(hg).add_(g)
        return losses.detach(), logits.detach()

    return step


# ----------------------------------------------------------------------
def global_norm(tensors: Sequence[Tensor]) -> Tensor:
    """The L2 norm over all tensors together, as a 0-d tensor on their device."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(list(tensors))))


def gradient_at_offset(
    weights: Weights, loss_fn: StepLoss, offset: list[Tensor], into: list[Tensor]
) -> None:
    """Leave in ``into`` the gradient at theta + offset on the same minibatch (``into`` may be
    ``offset`` itself: the offset is applied before the gradient is written).

    BatchNorm running statistics are frozen for this pass, and theta is copied back from a
    saved copy (bitwise; subtracting the offset again would not be exact in floating point).
    """
    params = weights.params
    saved = weights.buffer("saved")  # persistent: no allocation per step
    with torch.no_grad():
        torch._foreach_copy_(saved, params)
        torch._foreach_add_(params, offset)
    try:
        with bn_stats_frozen(weights.model):
            gradients(weights, loss_fn, into)
    finally:
        with torch.no_grad():
            torch._foreach_copy_(params, saved)


# ----------------------------------------------------------------------------- your own loop
def trainable(model: nn.Module) -> list[nn.Parameter]:
    """The parameters a step gives gradients to (those that require them)."""
    return [p for p in model.parameters() if p.requires_grad]


class ModelWeights:
    """``Weights`` of one plain model in a loop of your own: its trainable parameters, whose
    ``.grad`` are the gradient buffers (a run of one)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.params: list[Tensor] = list(trainable(model))
        self.grads: list[Tensor] = [torch.zeros_like(p) for p in self.params]
        self._buffers: dict[str, list[Tensor]] = {}
        self.serves(model)

    def serves(self, model: nn.Module) -> bool:
        """Whether these weights are ``model``'s as it is now (its trainable parameters, each
        with its gradient buffer as ``.grad``: the loop may have cleared them to None)."""
        current = trainable(model)
        if model is not self.model or len(current) != len(self.params):
            return False
        if any(a is not b for a, b in zip(current, self.params, strict=True)):
            return False
        for p, g in zip(self.params, self.grads, strict=True):
            p.grad = g
        return True

    def per_run(self, tensors: Sequence[Tensor]) -> list[list[Tensor]]:
        return [list(tensors)]

    def buffer(self, name: str) -> list[Tensor]:
        if name not in self._buffers:
            self._buffers[name] = [torch.empty_like(p) for p in self.params]
        return self._buffers[name]


class ModelRule:
    """A step rule for a loop of your own: ``rule(model, loss_fn, images, labels) -> (loss,
    logits)`` leaves the step's gradients in every trainable parameter's ``.grad``."""

    def __init__(self, rule: StepRule) -> None:
        self.rule = rule
        self._weights: ModelWeights | None = None

    def __call__(
        self, model: nn.Module, loss_fn: LossFn, images: Tensor, labels: Tensor
    ) -> tuple[Tensor, Tensor]:
        weights = self._weights
        if weights is None or not weights.serves(model):
            weights = self._weights = ModelWeights(model)
        return self.rule(weights, lambda: loss_fn(images, labels))


def sharpness_aware(rho: float = 0.05) -> ModelRule:
    """SAM for your own loop: the gradient at theta + rho * g / ||g||."""
    return ModelRule(sharpness_aware_rule([rho]))


def gradient_regularization(
    method: str, gamma: float, eps: float = 0.01, normalize: bool = False
) -> ModelRule:
    """Gradient regularization for your own loop (``gradient_regularization_rule``)."""
    return ModelRule(gradient_regularization_rule(method, [gamma], [eps], [normalize]))
