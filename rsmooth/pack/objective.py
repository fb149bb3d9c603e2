"""The training objective of K packed runs at once: (K, B, M) logits -> (K,) per-run losses.

Each run's loss options become (K,) tensors (label smoothing, smoothing alpha, flood level) and
s_t arrives as a (K,) tensor every step, so one set of kernels serves all K runs (the op count
stays flat in K) and a captured step need not recompile when they change. The formulas are the
one-run ``Objective``'s (rsmooth/methods/losses.py), term by term, with the smoothing functions
of rsmooth/methods/smoothing.py themselves, so a packed run's loss is the separate run's to
rounding. Where some runs of a pack smooth and others do not, the mse runs without smoothing
take the smoothing form with s_t = 0 and alpha = 0: kappa = 0 makes W the identity, and the
loss and its gradient are then exactly those of sum_j (p_j - y_j)^2, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from rsmooth.config import RunConfig
from rsmooth.methods.smoothing import at_least_fp32, diffusivity, smooth

FAMILIES = ("mse", "ce")  # the base losses; runs of one family share their kernels


class PackedObjective:
    """The training losses and validation sums of K runs whose logits come packed (K, B, M)."""

    def __init__(self, cfgs: Sequence[RunConfig], num_classes: int, device: torch.device):
        if any(c.loss not in FAMILIES for c in cfgs):
            raise ValueError(f"packed losses are {FAMILIES}, got {[c.loss for c in cfgs]}")
        self.num_classes = num_classes
        # packable() puts only runs with equal detach_kappa and layers in one pack
        self.detach_kappa = cfgs[0].detach_kappa
        self.layers = cfgs[0].layers
        self.smoothing = any(c.smoothing for c in cfgs)
        self.label_smoothing = any(c.label_smoothing for c in cfgs)
        self.flooded = [c.flood is not None for c in cfgs]

        def column(values: list[float]) -> Tensor:  # (K, 1, 1): broadcasts over (K, B, M)
            return torch.tensor(values, dtype=torch.float64, device=device).view(-1, 1, 1)

        # Python floats first, as the one-run Objective computes them (1 - eps, eps / M).
        self._options = {
            "keep": column([1.0 - c.label_smoothing for c in cfgs]),
            "spread": column([c.label_smoothing / num_classes for c in cfgs]),
            "alpha": column([c.alpha or 0.0 for c in cfgs]),  # None (no smoothing): 0
            "flood": column([c.flood or 0.0 for c in cfgs]).view(-1),
            "flooded": torch.tensor(self.flooded, device=device),
        }
        self._cast: dict[torch.dtype, dict[str, Tensor]] = {}
        runs = list(range(len(cfgs)))
        self.families = [
            (name, torch.tensor([k for k in runs if cfgs[k].loss == name], device=device))
            for name in FAMILIES
            if any(c.loss == name for c in cfgs)
        ]
        order = [k for name in FAMILIES for k in runs if cfgs[k].loss == name]
        # where the runs of each family sit in the concatenation of the families' losses
        self.unsort = torch.tensor(order, device=device).argsort() if order != runs else None

    def options(self, dtype: torch.dtype) -> dict[str, Tensor]:
        """The per-run options in the loss's dtype (cast once per dtype, not every step)."""
        if dtype not in self._cast:
            self._cast[dtype] = {
                name: t if t.dtype == torch.bool else t.to(dtype)
                for name, t in self._options.items()
            }
        return self._cast[dtype]

    def __call__(self, logits: Tensor, labels: Tensor, s_t: Tensor) -> Tensor:
        """Per-run training losses (K,) of logits (K, B, M), labels (K, B) and s_t (K,), where
        s_t is 0 for the runs without smoothing (as ``smoothing_scale`` gives it)."""
        x = at_least_fp32(logits)
        o = self.options(x.dtype)
        y = F.one_hot(labels, self.num_classes).to(x.dtype)
        if self.label_smoothing:  # eps = 0 leaves y bitwise as it is: y * 1 + 0
            y = y * o["keep"] + o["spread"]
        s = s_t.to(x.dtype).view(-1, 1, 1)
        losses = self._per_family(self._train_loss, x, y, s, o["alpha"])
        if any(self.flooded):  # Ishida et al. 2020: |L - b| + b, on the flooded runs only
            flooded = (losses - o["flood"]).abs() + o["flood"]
            losses = flooded if all(self.flooded) else torch.where(o["flooded"], flooded, losses)
        return losses

    def validation_sums(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Per-run sums (K,) over the batch of the unsmoothed base loss on the true labels."""
        x = at_least_fp32(logits)
        y = F.one_hot(labels, self.num_classes).to(x.dtype).expand_as(x)
        return self._per_family(lambda name, x, y: _base(name, x, y).sum(1), x, y)

    def _train_loss(self, name: str, x: Tensor, y: Tensor, s: Tensor, alpha: Tensor) -> Tensor:
        if name == "ce" or not self.smoothing:
            return _base(name, x, y).mean(1)
        # residual_smoothing_loss (rsmooth/methods/smoothing.py) on rows (K*B, M), with each
        # row's own s_t and alpha
        p = torch.softmax(x, dim=2)
        d = (p - y).abs().flatten(0, 1)
        rows = x.shape[:2]
        s_rows, alpha_rows = (t.expand(*rows, 1).flatten(0, 1) for t in (s, alpha))
        kappa = diffusivity(d, s_rows, alpha_rows)
        if self.detach_kappa:
            kappa = kappa.detach()
        r = smooth(d, kappa, self.layers)
        return r.square().sum(dim=1).view(rows).mean(1)

    def _per_family(self, loss: Callable[..., Tensor], *per_run: Tensor) -> Tensor:
        """``loss(family, *per_run)`` on each family's runs (dim 0), back in run order: (K,)."""
        if len(self.families) == 1:
            return loss(self.families[0][0], *per_run)
        parts = [
            loss(name, *(t.index_select(0, runs) for t in per_run)) for name, runs in self.families
        ]
        joined = torch.cat(parts)
        return joined if self.unsort is None else joined.index_select(0, self.unsort)


def _base(name: str, x: Tensor, y: Tensor) -> Tensor:
    """The base loss of each sample, (K, B): rsmooth/methods/losses.py's mse and ce."""
    if name == "mse":
        return (torch.softmax(x, dim=2) - y).square().sum(dim=2)
    return F.cross_entropy(x.flatten(0, 1), y.flatten(0, 1), reduction="none").view(x.shape[:2])
