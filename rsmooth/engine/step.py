"""One training step: the method's four parts (docs/methods.md §5) around one model.

``train_step`` is the only training step in rsmooth: the engine's epoch loop and `rsmooth
bench` both call it, so what bench times is what a run executes. The learning rate and the
smoothing scale s_t come in as values (pure functions of the step, computed by the caller);
nothing here keeps state between steps beyond the model and the optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rsmooth.config import RunConfig
from rsmooth.engine.environment import Environment
from rsmooth.methods import build_grad_transform, build_loss, build_optimizer, build_step_rule
from rsmooth.methods.losses import Objective
from rsmooth.methods.step_rules import StepRule
from rsmooth.methods.transforms import GradTransform


@dataclass
class Method:
    """A model with its loss, optimizer, gradient transform and step rule."""

    model: nn.Module
    forward: Callable[[Tensor], Tensor]  # the model, or its torch.compile'd form
    objective: Objective
    optimizer: torch.optim.Optimizer
    grad_transform: GradTransform
    step_rule: StepRule
    params: list[nn.Parameter]
    env: Environment

    def logits(self, images: Tensor) -> Tensor:
        with self.env.autocast():
            return self.forward(images)


def build_method(cfg: RunConfig, env: Environment, model: nn.Module, num_classes: int) -> Method:
    """The method of ``cfg`` around ``model`` (already on ``env.device``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return Method(
        model=model,
        forward=torch.compile(model) if cfg.compile else model,
        objective=build_loss(cfg, num_classes),
        optimizer=build_optimizer(params, cfg),
        grad_transform=build_grad_transform(cfg),
        step_rule=build_step_rule(cfg),
        params=params,
        env=env,
    )


def train_step(
    method: Method, images: Tensor, labels: Tensor, lr: float, s_t: float
) -> tuple[Tensor, Tensor]:
    """One optimizer step on one batch; returns the (detached) loss and logits of its first
    forward pass. No host sync: the caller sums them on the device."""
    for group in method.optimizer.param_groups:
        group["lr"] = lr
    method.optimizer.zero_grad(set_to_none=True)

    def loss_fn(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        logits = method.logits(x)
        return method.objective(logits, y, s_t), logits

    loss, logits = method.step_rule(method.model, loss_fn, images, labels)
    method.grad_transform(method.params)
    method.optimizer.step()
    return loss, logits
