"""rsmooth: adaptive regularization via residual smoothing (Cho, Kwon & Hong 2019), its
baselines and relatives, as composable PyTorch parts and a fast training engine.

The public API is imported lazily (PEP 562) so that ``rsmooth --help`` does not load torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "anneal": "rsmooth.methods.smoothing",
    "residual_smoothing_loss": "rsmooth.methods.smoothing",
    "ResidualSmoothingLoss": "rsmooth.methods.smoothing",
    "agr_": "rsmooth.methods.transforms",
    "sharpness_aware": "rsmooth.methods.step_rules",
    "gradient_regularization": "rsmooth.methods.step_rules",
    "bn_stats_frozen": "rsmooth.methods.bn",
    "RunConfig": "rsmooth.config",
    "train_run": "rsmooth.engine",
    "MODELS": "rsmooth.models",
    "DATASETS": "rsmooth.data",
    "LOSSES": "rsmooth.methods",
    "OPTIMIZERS": "rsmooth.methods",
    "GRAD_TRANSFORMS": "rsmooth.methods",
    "STEP_RULES": "rsmooth.methods",
    "SCHEDULES": "rsmooth.methods",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'rsmooth' has no attribute {name!r}")
