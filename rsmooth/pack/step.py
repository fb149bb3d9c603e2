"""One training step of K packed runs: one forward and backward for all, then each run's own
gradient transform and optimizer on its own tensors.

The gradients of the packed parameters land in persistent packed buffers (one foreach copy),
and every run's parameters hold views of them as ``.grad``; so each run's ordinary optimizer
(built by ``build_optimizer`` from its config, with its own lr, momentum, weight decay and
state) and gradient transform (AGR sums over its own slice) run the engine's own code, and
nothing but the forward, the loss and the backward is shared.

Two-pass rules (SAM, F-GR, B-GR; rsmooth/methods/step_rules.py) keep their one-run semantics
per run: each run's gradient norm and offset are its own (``global_norm`` of its own views),
one packed second pass (BatchNorm statistics frozen, ``bn_stats_frozen``) gives every run's
gradient at its own offset, parameters are restored bitwise from a copy, and each run
combines its two gradients with its own rho / gamma / eps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rsmooth.config import RunConfig
from rsmooth.data.registry import DatasetSpec
from rsmooth.engine.environment import Environment
from rsmooth.methods import build_grad_transform, build_optimizer
from rsmooth.methods.bn import bn_stats_frozen
from rsmooth.methods.step_rules import global_norm
from rsmooth.methods.transforms import GradTransform
from rsmooth.models import build_model
from rsmooth.pack.models import Binding, bindings, pack_model, run_views
from rsmooth.pack.objective import PackedObjective

PACKED_STEP_RULES = ("plain", "sam", "gr-forward", "gr-backward")


@dataclass(eq=False)
class Run:
    """One run of a pack: the model, optimizer and gradient transform a separate run has."""

    cfg: RunConfig
    model: nn.Module  # while packed, its parameters and buffers are views into the pack
    optimizer: torch.optim.Optimizer
    grad_transform: GradTransform
    params: list[nn.Parameter]  # the trainable ones, as the optimizer holds them


def build_run(cfg: RunConfig, env: Environment, spec: DatasetSpec) -> Run:
    """The run's model, optimizer and transform, built as ``train_run`` builds them (same seed,
    same initial weights bit for bit)."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, spec.in_channels, spec.num_classes).to(env.device)
    if env.channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    return Run(cfg, model, build_optimizer(params, cfg), build_grad_transform(cfg), params)


class PackedStep:
    """The training step of K runs packed into one model (``pack_model``)."""

    def __init__(self, runs: list[Run], env: Environment, num_classes: int) -> None:
        rules = {r.cfg.step_rule for r in runs}
        if len(rules) != 1 or not rules <= set(PACKED_STEP_RULES):
            raise ValueError(f"packed step rules are {PACKED_STEP_RULES}, one per pack: {rules}")
        self.runs = runs
        self.env = env
        self.rule = rules.pop()
        self.model = pack_model([r.model for r in runs])
        self.forward = torch.compile(self.model) if runs[0].cfg.compile else self.model
        self.objective = PackedObjective([r.cfg for r in runs], num_classes, env.device)
        links = bindings(self.model)
        self.params: list[Tensor] = [b.packed for b in links]
        self.grads, self.grad_views = self._buffers(links)
        for binding, views in zip(links, zip(*self.grad_views, strict=True), strict=True):
            for param, view in zip(binding.runs, views, strict=True):
                param.grad = view  # the run's optimizer and transform read the packed buffer
        if self.rule.startswith("gr-"):  # the probe gradients, beside the kept first ones
            self.probe, self.probe_views = self._buffers(links)

    def _buffers(self, links: list[Binding]) -> tuple[list[Tensor], list[list[Tensor]]]:
        """Packed buffers like the parameters, and each run's views of them."""
        buffers = [torch.empty_like(b.packed) for b in links]
        runs = len(self.runs)
        per_tensor = [run_views(t, runs, b.stacked) for t, b in zip(buffers, links, strict=True)]
        return buffers, [list(views) for views in zip(*per_tensor, strict=True)]

    def set_lrs(self, lrs: list[float]) -> None:
        for run, lr in zip(self.runs, lrs, strict=True):
            for group in run.optimizer.param_groups:
                group["lr"] = lr

    def __call__(self, images: Tensor, labels: Tensor, s_t: Tensor) -> tuple[Tensor, Tensor]:
        """One step: (B, K*C, H, W) images, (K, B) labels, (K,) s_t -> detached per-run losses
        (K,) and logits (K, B, M) of the first forward pass. The lrs are set beforehand."""
        losses, logits = self._gradients(images, labels, s_t, self.grads)
        if self.rule != "plain":
            self._second_pass(images, labels, s_t)
        for run in self.runs:
            run.grad_transform(run.params)
            run.optimizer.step()
        return losses, logits

    def _gradients(
        self, images: Tensor, labels: Tensor, s_t: Tensor, into: list[Tensor]
    ) -> tuple[Tensor, Tensor]:
        with self.env.autocast():
            logits = self.forward(images)
        losses = self.objective(logits, labels, s_t)
        # d(sum of losses)/d(loss_k) = 1: each run gets exactly its own loss's gradient
        grads = torch.autograd.grad(losses.sum(), self.params)
        with torch.no_grad():
            torch._foreach_copy_(into, grads)
        return losses.detach(), logits.detach()

    def _second_pass(self, images: Tensor, labels: Tensor, s_t: Tensor) -> None:
        sam = self.rule == "sam"
        # SAM turns g into the offset in place, as one run does; GR keeps g and offsets a copy
        offset = self.grads if sam else self.probe
        offset_views = self.grad_views if sam else self.probe_views
        steps: list[Tensor | float] = []
        with torch.no_grad():
            if not sam:
                torch._foreach_copy_(self.probe, self.grads)
            for run, g, views in zip(self.runs, self.grad_views, offset_views, strict=True):
                cfg = run.cfg
                if sam:  # e = rho g / (||g|| + 1e-12)
                    torch._foreach_mul_(views, cfg.rho / (global_norm(g) + 1e-12))
                    continue
                h = cfg.gr_eps / (global_norm(g) + 1e-12) if cfg.gr_normalize else cfg.gr_eps
                steps.append(h)
                torch._foreach_mul_(views, _direction(cfg) * h)
            saved = [torch.empty_like(p) for p in self.params]
            torch._foreach_copy_(saved, self.params)
            torch._foreach_add_(self.params, offset)
        try:
            with bn_stats_frozen(self.model):
                self._gradients(images, labels, s_t, offset)
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.params, saved)
        if sam:
            return
        with torch.no_grad():
            for run, g, g2, h in zip(
                self.runs, self.grad_views, self.probe_views, steps, strict=True
            ):
                gamma = run.cfg.gr_gamma
                if gamma == 0:  # the one-run rule is plain here: the gradient stays g
                    continue
                # F-GR: g + (gamma/h)(g2 - g); B-GR: g - (gamma/h)(g2 - g)
                torch._foreach_sub_(g2, g)
                torch._foreach_mul_(g2, _direction(run.cfg) * gamma / h)
                torch._foreach_add_(g, g2)


def _direction(cfg: RunConfig) -> float:
    return 1.0 if cfg.step_rule == "gr-forward" else -1.0
