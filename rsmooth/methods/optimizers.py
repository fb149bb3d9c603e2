"""Optimizers, selected by name, with the defaults the papers use (docs/methods.md §2, §4.4-4.5)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.util import find_spec

import torch
from torch import nn

from rsmooth.config import RunConfig
from rsmooth.data.registry import DATASETS
from rsmooth.errors import ConfigError
from rsmooth.registry import Registry, checks, fills


@dataclass(frozen=True)
class OptimizerSpec:
    build: Callable[[list[nn.Parameter], RunConfig], torch.optim.Optimizer]  # lr from cfg.lr
    default_lr: float
    # None: the dataset's default (docs/methods.md §2); a number: the optimizer's own paper default
    default_weight_decay: float | None = None
    # The third-party package it imports (its pip name): checked when a config is validated, so a
    # missing one is a one-line error before any work, not a traceback in the first step.
    package: str | None = None
    # Why its step cannot be captured as a CUDA graph (cuda_graphs), or None where it can: a
    # captured step replays the kernels of its capture, so a step that reads host state
    # (a Python step count, a float learning rate) would replay the captured values.
    graph_refusal: str | None = None


def missing_package(name: str) -> str | None:
    """The pip name of the package optimizer ``name`` needs and this Python lacks, else None."""
    package = OPTIMIZERS.get(name).package
    if package is None or find_spec(package.replace("-", "_")) is not None:
        return None
    return package


OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimizer", "optimizer")
# Every optimizer reads lr and weight_decay (core fields); SGD also reads these.
SGD_FIELDS = ("momentum", "nesterov")


def build_optimizer(params: Iterable[nn.Parameter], cfg: RunConfig) -> torch.optim.Optimizer:
    # torch picks its multi-tensor (foreach) kernels by itself where all parameters are on CUDA.
    return OPTIMIZERS.get(cfg.optimizer).build(list(params), cfg)


def _lr_wd(cfg: RunConfig) -> tuple[float, float]:
    """The learning rate and weight decay of a resolved config (resolve() fills both)."""
    if cfg.lr is None or cfg.weight_decay is None:
        raise ValueError("build the optimizer from a resolved config (resolve(RunConfig))")
    return cfg.lr, cfg.weight_decay


def _lr(params: list[nn.Parameter], cfg: RunConfig) -> float | torch.Tensor:
    """The learning rate; with cuda_graphs a device tensor, which the engine fills with each
    step's value before a replay (and the optimizer runs torch's fused kernels, ``fused``,
    which read it and, for Adam(W), ``capturable``, their step count on the device: no host
    state)."""
    lr, _ = _lr_wd(cfg)
    if not cfg.cuda_graphs:
        return lr
    return torch.tensor(lr, dtype=params[0].dtype, device=params[0].device)


def _fused(cfg: RunConfig) -> bool | None:
    return True if cfg.cuda_graphs else None  # None: torch's own choice


def _sgd(params: list[nn.Parameter], cfg: RunConfig) -> torch.optim.Optimizer:
    _, wd = _lr_wd(cfg)
    return torch.optim.SGD(
        params,
        lr=_lr(params, cfg),
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=wd,
        fused=_fused(cfg),
    )


def _adam(params: list[nn.Parameter], cfg: RunConfig) -> torch.optim.Optimizer:
    _, wd = _lr_wd(cfg)
    return torch.optim.Adam(
        params,
        lr=_lr(params, cfg),
        weight_decay=wd,
        fused=_fused(cfg),
        capturable=cfg.cuda_graphs,  # else its step() refuses to be captured
    )


def _adagrad(params: list[nn.Parameter], cfg: RunConfig) -> torch.optim.Optimizer:
    lr, wd = _lr_wd(cfg)
    return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)


def _adamw(params: list[nn.Parameter], cfg: RunConfig) -> torch.optim.Optimizer:
    _, wd = _lr_wd(cfg)
    return torch.optim.AdamW(
        params,
        lr=_lr(params, cfg),
        betas=(0.9, 0.999),
        weight_decay=wd,
        fused=_fused(cfg),
        capturable=cfg.cuda_graphs,  # else its step() refuses to be captured
    )


def _adan(params: list[nn.Parameter], cfg: RunConfig) -> torch.optim.Optimizer:
    # A maintained implementation (pytorch-optimizer), checked against the reference rule
    # of Xie et al. 2022 in tests/test_optimizers.py.
    from pytorch_optimizer import Adan

    lr, wd = _lr_wd(cfg)
    return Adan(
        params, lr=lr, betas=(0.98, 0.92, 0.99), eps=1e-8, weight_decay=wd, weight_decouple=False
    )


OPTIMIZERS.register("sgd", fields=SGD_FIELDS, title="SGD")(OptimizerSpec(_sgd, 0.1))
# Kingma & Ba's recommended default (docs/methods.md §2)
OPTIMIZERS.register("adam", title="Adam")(OptimizerSpec(_adam, 1e-3))
ADAGRAD_REFUSAL = "torch's Adagrad has no CUDA kernel that keeps its step count on the device"
OPTIMIZERS.register("adagrad", title="AdaGrad")(  # torch's, Duchi's
    OptimizerSpec(_adagrad, 1e-2, graph_refusal=ADAGRAD_REFUSAL)
)
# The AGR paper's AdamW defaults (docs/methods.md §4.4)
OPTIMIZERS.register("adamw", title="AdamW")(OptimizerSpec(_adamw, 1e-3, 1e-2))
# sail-sg/Adan's defaults
ADAN_REFUSAL = (
    "pytorch-optimizer's Adan counts steps in a Python int and reads its bias corrections "
    "from it: a replay would repeat the captured step's"
)
OPTIMIZERS.register("adan", title="Adan")(
    OptimizerSpec(_adan, 1e-3, 0.02, "pytorch-optimizer", graph_refusal=ADAN_REFUSAL)
)


@fills
def optimizer_defaults(cfg: RunConfig) -> dict[str, float]:
    """The optimizer's lr, and its paper's weight decay, else the data set's for this method
    (docs/methods.md §2); an optimizer whose package is missing fails here, before any work."""
    if missing := missing_package(cfg.optimizer):
        raise ConfigError(
            "optimizer",
            cfg.optimizer,
            f"an optimizer whose package is installed; {cfg.optimizer} needs "
            f"{missing} (pip install {missing})",
        )
    spec = OPTIMIZERS.get(cfg.optimizer)
    changes = {}
    if cfg.lr is None:
        changes["lr"] = spec.default_lr
    if cfg.weight_decay is None:
        changes["weight_decay"] = (
            spec.default_weight_decay
            if spec.default_weight_decay is not None
            else DATASETS.get(cfg.data).default_weight_decay(cfg.smoothing)
        )
    return changes


@checks
def optimizer_can_be_captured(cfg: RunConfig) -> None:
    if cfg.cuda_graphs and (why := OPTIMIZERS.get(cfg.optimizer).graph_refusal):
        raise ConfigError("cuda_graphs", True, f"false with optimizer {cfg.optimizer} ({why})")


@checks
def nesterov_needs_sgd(cfg: RunConfig) -> None:
    if cfg.nesterov and (cfg.optimizer != "sgd" or cfg.momentum == 0):
        raise ConfigError("nesterov", True, "only with optimizer sgd and momentum > 0")
