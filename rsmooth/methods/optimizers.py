"""Optimizers, selected by name, with the defaults the papers use (METHODS.md §2, §4.4-4.5)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from rsmooth.registry import Registry


@dataclass(frozen=True)
class OptimizerSpec:
    build: Callable[..., torch.optim.Optimizer]  # (params, cfg) -> optimizer, lr from cfg.lr
    default_lr: float
    # None: the dataset's default (METHODS.md §2); a number: the optimizer's own paper default
    default_weight_decay: float | None = None


OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimizer", "optimizer")


def build_optimizer(params: Iterable[nn.Parameter], cfg) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(cfg.optimizer).build(list(params), cfg)


def _register(name: str, default_lr: float, default_weight_decay: float | None = None):
    def add(build):
        OPTIMIZERS.register(name)(OptimizerSpec(build, default_lr, default_weight_decay))
        return build

    return add


def _fused_ok(params: list[nn.Parameter]) -> dict:
    # foreach kernels batch the per-tensor updates into a few launches on CUDA (one per group).
    return {"foreach": True} if params and params[0].is_cuda else {}


@_register("sgd", default_lr=0.1)
def sgd(params, cfg) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
        **_fused_ok(params),
    )


@_register("adam", default_lr=1e-3)  # Kingma & Ba's recommended default (METHODS.md §2)
def adam(params, cfg) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **_fused_ok(params))


@_register("adagrad", default_lr=1e-2)  # torch's and Duchi et al.'s default
def adagrad(params, cfg) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(
        params, lr=cfg.lr, weight_decay=cfg.weight_decay, **_fused_ok(params)
    )


@_register("adamw", default_lr=1e-3, default_weight_decay=1e-2)  # AGR paper's AdamW defaults
def adamw(params, cfg) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        params, lr=cfg.lr, betas=(0.9, 0.999), weight_decay=cfg.weight_decay, **_fused_ok(params)
    )


@_register("adan", default_lr=1e-3, default_weight_decay=0.02)  # sail-sg/Adan defaults
def adan(params, cfg) -> torch.optim.Optimizer:
    # A maintained implementation (pytorch-optimizer), checked against the reference rule
    # of Xie et al. 2022 in tests/test_optimizers.py.
    from pytorch_optimizer import Adan

    return Adan(
        params,
        lr=cfg.lr,
        betas=(0.98, 0.92, 0.99),
        eps=1e-8,
        weight_decay=cfg.weight_decay,
        weight_decouple=False,
    )
