"""Residual smoothing (Cho, Kwon & Hong 2019), exactly as docs/methods.md §1 specifies it.

The residual d = |softmax(logits) - y| is diffused across the M classes by one smoothing
layer W (eq. 22) whose diffusivity kappa = s_t * sigmoid(alpha * normalized residual)
(eq. 12, 19) is larger where the residual is larger; the loss is sum_j r_j^2 of the smoothed
residual r = W d, averaged over the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsmooth.config import (
    RunConfig,
    check_choice,
    check_finite_at_least,
    check_in_range,
    check_positive,
)
from rsmooth.errors import ConfigError
from rsmooth.registry import Registry, checks, fills

# s_t(u) of one annealing distribution at progress u, with mu, b (and s0 for constant).
AnnealShape = Callable[[float, float, float, float], float]

ANNEALS: Registry[AnnealShape] = Registry("anneal schedule", "anneal", optional=True, labelled=True)
SCHEMES = ("global", "local", "global+local")
# What a residual-smoothing run reads besides its schedule's own (docs/methods.md §1).
SMOOTHING_FIELDS = ("alpha", "detach_kappa", "layers")
ANNEALED = ("scheme", "b", "mu", *SMOOTHING_FIELDS)


@ANNEALS.register("laplace", fields=ANNEALED, title="smoothing {scheme} laplace")
def laplace(u: float, mu: float, b: float, s0: float = 1.0) -> float:
    """exp(-|u - mu| / b): the Laplace density scaled to peak 1 at mu (eq. 13, Sec. 6.1)."""
    return math.exp(-abs(u - mu) / b)


@ANNEALS.register("logistic", fields=ANNEALED, title="smoothing {scheme} logistic")
def logistic(u: float, mu: float, b: float, s0: float = 1.0) -> float:
    """sech((u - mu) / (2 b))^2 (= 4 b * logistic pdf): peak 1 at mu (eq. 14, Sec. 6.1)."""
    # sech(x)^2 = 4 e^{-2|x|} / (1 + e^{-2|x|})^2, written so that large |x| cannot overflow.
    z = math.exp(-abs(u - mu) / b)
    return 4.0 * z / (1.0 + z) ** 2


@ANNEALS.register(
    "constant", fields=("scheme", "s0", *SMOOTHING_FIELDS), title="smoothing {scheme}"
)
def constant(u: float, mu: float, b: float, s0: float = 1.0) -> float:
    """The local-only scheme's constant s0 (eq. 17)."""
    return s0


@fills
def smoothing_defaults(cfg: RunConfig) -> dict[str, object]:
    """The scheme of the anneal (local for constant, else global+local) and its alpha (0 for
    global, else 1: docs/methods.md §1), where the config leaves them open."""
    if cfg.anneal is None:
        return {}
    scheme = cfg.scheme or ("local" if cfg.anneal == "constant" else "global+local")
    check_choice("scheme", scheme, SCHEMES)
    changes: dict[str, object] = {"scheme": scheme}
    if cfg.alpha is None:
        changes["alpha"] = 0.0 if scheme == "global" else 1.0
    return changes


@checks
def smoothing_rules(cfg: RunConfig) -> None:
    """Residual smoothing's own rules (docs/methods.md §1); its fields only with it on."""
    if not cfg.smoothing:
        if cfg.scheme is not None or cfg.alpha is not None:
            field = "scheme" if cfg.scheme is not None else "alpha"
            raise ConfigError(field, getattr(cfg, field), "only with residual smoothing (--anneal)")
        return
    check_positive("b", cfg.b)
    check_in_range("mu", cfg.mu, 0.0, 1.0)
    check_finite_at_least("alpha", cfg.alpha, 0.0)
    check_in_range("s0", cfg.s0, 0.0, 1.0)
    if cfg.loss != "mse":
        raise ConfigError("loss", cfg.loss, "mse when residual smoothing is on (--anneal)")
    if cfg.scheme == "global" and cfg.alpha != 0:
        raise ConfigError("alpha", cfg.alpha, "0 for scheme global (eq. 15)")
    if (cfg.scheme == "local") != (cfg.anneal == "constant"):
        raise ConfigError("scheme", cfg.scheme, "local exactly when anneal is constant (eq. 17)")


def anneal(u: float, dist: str, mu: float = 0.75, b: float = 0.5) -> float:
    """The global scale s(u) at training progress u in [0, 1], scaled so that s(mu) = 1.

    laplace: exp(-|u - mu| / b); logistic: sech((u - mu) / (2 b))^2 (= 4 b * logistic pdf),
    "the maximum of distributions is scaled to be 1" (Sec. 6.1); constant: 1.
    """
    if dist not in ANNEALS:
        raise ValueError(f"unknown anneal distribution {dist!r} (allowed: {', '.join(ANNEALS)})")
    return ANNEALS.get(dist)(u, mu, b, 1.0)


def smoothing_scale(cfg: RunConfig, step: int, total_steps: int) -> float:
    """s_t of a run at optimizer step ``step``: a pure function of the step (0 when off)."""
    if cfg.anneal is None:
        return 0.0
    return ANNEALS.get(cfg.anneal)(step / max(total_steps, 1), cfg.mu, cfg.b, cfg.s0)


def diffusivity(d: Tensor, s: float | Tensor, alpha: float | Tensor) -> Tensor:
    """kappa = s / (1 + exp(-alpha * dn)) with dn the per-sample standardized residual (eq. 18-20).

    Population std (ddof 0): the paper asks for "standard deviation 1" exactly
    (docs/methods.md §1.4).
    """
    mean = d.mean(dim=1, keepdim=True)
    std = d.std(dim=1, keepdim=True, correction=0)
    dn = (d - mean) / (std + 1e-8)
    return s * torch.sigmoid(alpha * dn)


def smooth(d: Tensor, kappa: Tensor, layers: int = 1) -> Tensor:
    """r = W^layers d, W[j,j] = 1 - kappa_j, W[j,k] = kappa_j / (M-1): O(M) per sample (eq. 22)."""
    m = d.shape[1]
    r = d
    for _ in range(layers):
        total = r.sum(dim=1, keepdim=True)
        r = (1.0 - kappa) * r + kappa / (m - 1) * (total - r)
    return r


def at_least_fp32(x: Tensor) -> Tensor:
    """bf16/fp16 logits (autocast) are upcast: softmax residuals need fp32 resolution."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def as_probabilities(target: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    """Class indices -> one-hot rows; a probability matrix passes through."""
    if target.dim() == 1:
        return F.one_hot(target, num_classes).to(dtype)
    return target.to(dtype)


def residual_smoothing_loss(
    logits: Tensor,
    target: Tensor,
    s: float | Tensor,
    alpha: float | Tensor,
    detach_kappa: bool = True,
    layers: int = 1,
) -> Tensor:
    """Batch mean of ||W d||^2 (Algorithm 1, lines 11 and 13); no division by M (§1.8).

    ``target`` is class indices (N,) or a probability matrix (N, M) (e.g. smoothed labels).
    With s = 0 this is exactly the mse baseline sum_j (p_j - y_j)^2.
    """
    return smoothing_per_sample(logits, target, s, alpha, detach_kappa, layers).mean()


def smoothing_per_sample(
    logits: Tensor,
    target: Tensor,
    s: float | Tensor,
    alpha: float | Tensor,
    detach_kappa: bool = True,
    layers: int = 1,
) -> Tensor:
    """||W d||^2 of each sample (N,): logits (N, M); ``s`` and ``alpha`` numbers, or (N, 1)
    tensors giving each row its own (the rows of K packed runs, rsmooth/methods/losses.py)."""
    p = torch.softmax(at_least_fp32(logits), dim=1)
    y = as_probabilities(target, p.shape[1], p.dtype)
    d = (p - y).abs()
    kappa = diffusivity(d, s, alpha)
    if detach_kappa:  # kappa are the fixed weights of the smoothing layer (Algorithm 1, line 9)
        kappa = kappa.detach()
    r = smooth(d, kappa, layers)
    return r.square().sum(dim=1)


class ResidualSmoothingLoss(nn.Module):
    """The smoothing loss as a module for your own loop: ``loss = crit(logits, target, s_t)``."""

    def __init__(self, alpha: float = 1.0, detach_kappa: bool = True, layers: int = 1) -> None:
        super().__init__()
        self.alpha = alpha
        self.detach_kappa = detach_kappa
        self.layers = layers

    def forward(self, logits: Tensor, target: Tensor, s: float | Tensor) -> Tensor:
        return residual_smoothing_loss(
            logits, target, s, self.alpha, self.detach_kappa, self.layers
        )

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, detach_kappa={self.detach_kappa}, layers={self.layers}"
