"""The loss part of a method (docs/methods.md §5), written once for K >= 1 runs.

A base loss, selected by name, maps logits and target probabilities (..., M) to per-sample
losses (...). The training objective of K runs stepped together (``Objective``) wraps each
run's base loss with its label smoothing (§4.6), residual smoothing (§1; mse only) and
flooding (§4.3), each run's options held as (K,) tensors, so one set of kernels serves every
run and a captured step need not change when they do; one run is K = 1 through the same code.
Validation always uses the plain base loss on the true labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from rsmooth.config import RunConfig
from rsmooth.methods.smoothing import at_least_fp32, smoothing_per_sample
from rsmooth.registry import Registry

# (logits (..., M), target probabilities (..., M)) -> per-sample losses (...)
BaseLoss = Callable[[Tensor, Tensor], Tensor]
# A registered loss is built from the configs of the runs that use it (a loss with a
# hyperparameter of its own reads it per run from them; mse and ce have none).
LossFactory = Callable[[Sequence[RunConfig]], BaseLoss]

LOSSES: Registry[LossFactory] = Registry("loss", "loss")


def mse(logits: Tensor, target: Tensor) -> Tensor:
    """sum_j (p_j - y_j)^2 on softmax outputs: the paper's objective for every method (Sec. 6)."""
    return (torch.softmax(at_least_fp32(logits), dim=-1) - target).square().sum(dim=-1)


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    rows = at_least_fp32(logits)
    flat = F.cross_entropy(rows.flatten(0, -2), target.flatten(0, -2), reduction="none")
    return flat.view(rows.shape[:-1])


LOSSES.register("mse", title="MSE")(lambda cfgs=(): mse)
LOSSES.register("ce", title="cross-entropy")(lambda cfgs=(): cross_entropy)


def run_column(values: Sequence[float], like: Tensor) -> Tensor:
    """Per-run values as a (K, 1, 1) tensor in ``like``'s dtype and device, which broadcasts
    over (K, B, M). Python floats first, as a one-run loss computes them (1 - eps, eps / M), then
    one rounding to the dtype: the value a scalar operand would have had."""
    column = torch.tensor(values, dtype=torch.float64, device=like.device)
    return column.to(like.dtype).view(-1, 1, 1)


class Objective:
    """The training losses and validation sums of K runs whose logits come as (K, B, M).

    Runs are grouped by base loss (one kernel set per loss); each group's losses come back in
    run order. Where some runs of a pack smooth and others do not, the mse runs without
    smoothing take the smoothing form with s_t = 0 and alpha = 0: kappa = 0 makes W the
    identity, and the loss and its gradient are then exactly those of sum_j (p_j - y_j)^2.
    """

    def __init__(self, cfgs: Sequence[RunConfig], num_classes: int) -> None:
        self.num_classes = num_classes
        # a pack shares detach_kappa and layers (their fields are Shared, rsmooth/config.py)
        self.detach_kappa = cfgs[0].detach_kappa
        self.layers = cfgs[0].layers
        self.smoothing = any(c.smoothing for c in cfgs)
        self.label_smoothing = any(c.label_smoothing for c in cfgs)
        self.flooded = [c.flood is not None for c in cfgs]
        self.keep = [1.0 - c.label_smoothing for c in cfgs]
        self.spread = [c.label_smoothing / num_classes for c in cfgs]
        self.alpha = [c.alpha or 0.0 for c in cfgs]  # None (no smoothing): 0
        self.flood = [c.flood or 0.0 for c in cfgs]
        runs = list(range(len(cfgs)))
        names = list(dict.fromkeys(c.loss for c in cfgs))
        self.groups = [
            (
                LOSSES.get(name)([cfgs[k] for k in runs if cfgs[k].loss == name]),
                name,
                [k for k in runs if cfgs[k].loss == name],
            )
            for name in names
        ]
        order = [k for _, _, members in self.groups for k in members]
        self._unsort = None if order == runs else torch.tensor(order).argsort()
        self._columns: dict[tuple[str, torch.dtype, torch.device], Tensor] = {}

    def column(self, name: str, like: Tensor) -> Tensor:
        """A per-run option as (K, 1, 1) in ``like``'s dtype (made once per dtype)."""
        key = (name, like.dtype, like.device)
        if key not in self._columns:
            self._columns[key] = run_column(getattr(self, name), like)
        return self._columns[key]

    def targets(self, labels: Tensor, like: Tensor) -> Tensor:
        """One-hot targets (K, B, M) in ``like``'s dtype, label-smoothed per run: the uniform
        part includes the true class, as torch's CrossEntropyLoss (§4.6)."""
        y = F.one_hot(labels, self.num_classes).to(like.dtype)
        if self.label_smoothing:  # eps = 0 leaves y bitwise as it is: y * 1 + 0
            y = y * self.column("keep", like) + self.column("spread", like)
        return y

    def __call__(self, logits: Tensor, labels: Tensor, s_t: Tensor) -> Tensor:
        """Per-run training losses (K,) of logits (K, B, M), labels (K, B) and s_t (K,), where
        s_t is 0 for the runs without smoothing (as ``smoothing_scale`` gives it)."""
        x = at_least_fp32(logits)
        y = self.targets(labels, x)
        if self.smoothing:
            s, alpha = s_t.to(x.dtype).view(-1, 1, 1), self.column("alpha", x)
            losses = self._per_group(self._train_loss, x, y, s, alpha)
        else:
            losses = self._per_group(lambda base, name, x, y: base(x, y).mean(1), x, y)
        if any(self.flooded):  # Ishida et al. 2020: |L - b| + b, on the flooded runs only
            flood = self.column("flood", x).view(-1)
            flooded = (losses - flood).abs() + flood
            if all(self.flooded):
                return flooded
            mask = self._cached("flooded", losses.device, lambda: torch.tensor(self.flooded))
            return torch.where(mask, flooded, losses)
        return losses

    def validation_sums(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Per-run sums (K,) over the batch of the unsmoothed base loss on the true labels
        (B,), which every run of the pack was evaluated on."""
        x = at_least_fp32(logits)
        y = F.one_hot(labels, self.num_classes).to(x.dtype).expand_as(x)
        return self._per_group(lambda base, name, x, y: base(x, y).sum(1), x, y)

    def _train_loss(
        self, base: BaseLoss, name: str, x: Tensor, y: Tensor, s: Tensor, alpha: Tensor
    ) -> Tensor:
        if name != "mse":
            return base(x, y).mean(1)
        # residual smoothing (rsmooth/methods/smoothing.py) on rows (K*B, M), with each row's
        # own s_t and alpha
        rows = x.shape[:2]
        s_rows, alpha_rows = (t.expand(*rows, 1).flatten(0, 1) for t in (s, alpha))
        per_sample = smoothing_per_sample(
            x.flatten(0, 1), y.flatten(0, 1), s_rows, alpha_rows, self.detach_kappa, self.layers
        )
        return per_sample.view(rows).mean(1)

    def _per_group(self, loss: Callable[..., Tensor], *per_run: Tensor) -> Tensor:
        """``loss(base, name, *per_run)`` on each group's runs (dim 0), in run order: (K,)."""
        if len(self.groups) == 1:
            base, name, _ = self.groups[0]
            return loss(base, name, *per_run)
        parts = []
        for base, name, members in self.groups:
            index = self._cached(name, per_run[0].device, partial(torch.tensor, members))
            parts.append(loss(base, name, *(t.index_select(0, index) for t in per_run)))
        joined = torch.cat(parts)
        unsort = self._unsort
        if unsort is None:
            return joined
        return joined.index_select(0, self._cached("unsort", joined.device, lambda: unsort))

    def _cached(self, name: str, device: torch.device, make: Callable[[], Tensor]) -> Tensor:
        """An index or mask tensor on ``device``, made and copied there once (a copy every
        step would be a host-to-device transfer per step)."""
        key = (name, torch.int64, device)
        if key not in self._columns:
            self._columns[key] = make().to(device)
        return self._columns[key]


def build_loss(cfg: RunConfig, num_classes: int) -> Objective:
    """The objective of one run (K = 1)."""
    return Objective([cfg], num_classes)
