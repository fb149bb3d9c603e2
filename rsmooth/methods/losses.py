"""The loss part of a method (docs/methods.md §5): a base loss, selected by name, plus options.

Base losses map (logits, target probabilities) to per-sample losses. The training
objective wraps one with label smoothing (§4.6), residual smoothing (§1; mse only) and
flooding (§4.3); validation always uses the plain base loss on the true labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rsmooth.config import RunConfig
from rsmooth.methods.smoothing import as_probabilities, at_least_fp32, residual_smoothing_loss
from rsmooth.registry import Registry

BaseLoss = Callable[[Tensor, Tensor], Tensor]  # (logits, target probs (N, M)) -> (N,) losses

LOSSES: Registry[BaseLoss] = Registry("loss", "loss")


@LOSSES.register("mse", title="MSE")
def mse(logits: Tensor, target: Tensor) -> Tensor:
    """sum_j (p_j - y_j)^2 on softmax outputs: the paper's objective for every method (Sec. 6)."""
    return (torch.softmax(at_least_fp32(logits), dim=1) - target).square().sum(dim=1)


@LOSSES.register("ce", title="cross-entropy")
def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(at_least_fp32(logits), target, reduction="none")


@dataclass(frozen=True)
class Objective:
    """The training objective of a run and the validation loss beside it."""

    base: BaseLoss
    num_classes: int
    label_smoothing: float = 0.0
    smoothing: bool = False
    alpha: float = 0.0
    detach_kappa: bool = True
    layers: int = 1
    flood: float | None = None

    def targets(self, labels: Tensor, dtype: torch.dtype) -> Tensor:
        y = as_probabilities(labels, self.num_classes, dtype)
        if self.label_smoothing:
            # the uniform part includes the true class, as torch's CrossEntropyLoss (§4.6)
            y = (1.0 - self.label_smoothing) * y + self.label_smoothing / self.num_classes
        return y

    def __call__(self, logits: Tensor, labels: Tensor, s_t: float) -> Tensor:
        y = self.targets(labels, at_least_fp32(logits).dtype)
        if self.smoothing:
            loss = residual_smoothing_loss(
                logits, y, s_t, self.alpha, self.detach_kappa, self.layers
            )
        else:
            loss = self.base(logits, y).mean()
        if self.flood is not None:
            loss = (loss - self.flood).abs() + self.flood  # Ishida et al. 2020
        return loss

    def validation_sum(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Sum over the batch of the unsmoothed base loss on the true labels."""
        y = as_probabilities(labels, self.num_classes, at_least_fp32(logits).dtype)
        return self.base(logits, y).sum()


def build_loss(cfg: RunConfig, num_classes: int) -> Objective:
    return Objective(
        base=LOSSES.get(cfg.loss),
        num_classes=num_classes,
        label_smoothing=cfg.label_smoothing,
        smoothing=cfg.smoothing,
        alpha=cfg.alpha or 0.0,
        detach_kappa=cfg.detach_kappa,
        layers=cfg.layers,
        flood=cfg.flood,
    )
