"""A method is four independent parts (docs/methods.md §5), one registry per kind of part:

- ``LOSSES``: the training objective on logits (mse, ce; label smoothing, residual
  smoothing and flooding are options of the loss part; ``ANNEALS`` holds residual
  smoothing's s_t schedules, and turns it on);
- ``OPTIMIZERS``: the update rule on gradients (sgd, adam, adagrad, adamw, adan);
- ``GRAD_TRANSFORMS``: rewrites of the gradients between backward and the optimizer (none, agr);
- ``STEP_RULES``: how the gradients of one step are computed (plain, sam, gr-*);
- ``SCHEDULES``: the learning rate as a pure function of training progress.
"""

from rsmooth.methods.losses import LOSSES, build_loss
from rsmooth.methods.optimizers import OPTIMIZERS, build_optimizer
from rsmooth.methods.schedules import SCHEDULES, lr_at
from rsmooth.methods.smoothing import (
    ANNEALS,
    ResidualSmoothingLoss,
    anneal,
    residual_smoothing_loss,
)
from rsmooth.methods.step_rules import STEP_RULES, build_step_rule
from rsmooth.methods.transforms import GRAD_TRANSFORMS, build_grad_transform

__all__ = [
    "ANNEALS",
    "GRAD_TRANSFORMS",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "STEP_RULES",
    "ResidualSmoothingLoss",
    "anneal",
    "build_grad_transform",
    "build_loss",
    "build_optimizer",
    "build_step_rule",
    "lr_at",
    "residual_smoothing_loss",
]
