"""One training step of K >= 1 runs: the method's four parts (docs/methods.md §5) around one
forward pass.

``train_step`` is the only training step in rsmooth: the epoch loop and `rsmooth bench` both
call it, for one run (K = 1: the plain model) or a pack (K > 1: the runs' packed model,
rsmooth/models/packed.py). The loss (``Objective``) and the step rule are each written once over
the run axis; every run keeps its own optimizer and gradient transform over its own parameters
(for a pack, views of the packed storage), so each run's optimizer state and checkpoint are a
separate run's. The learning rates and s_t come in as values (pure functions of each run's
step, computed by the caller); nothing here keeps state between steps beyond the models, the
optimizers and the gradient buffers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rsmooth.config import RunConfig
from rsmooth.data.packed import PackedBatches, packed_layout
from rsmooth.data.registry import DatasetSpec, Split
from rsmooth.engine.environment import Environment
from rsmooth.methods import build_grad_transform, build_optimizer
from rsmooth.methods.losses import Objective
from rsmooth.methods.step_rules import pack_step_rule
from rsmooth.methods.transforms import GradTransform
from rsmooth.models import build_model
from rsmooth.models.packed import bindings, pack_model, run_views


@dataclass(eq=False)
class Run:
    """One run of a step: the model, optimizer and gradient transform a separate run has."""

    cfg: RunConfig
    model: nn.Module  # while packed, its parameters and buffers are views into the pack
    optimizer: torch.optim.Optimizer
    grad_transform: GradTransform
    params: list[nn.Parameter]  # the trainable ones, as the optimizer holds them


def build_run(cfg: RunConfig, env: Environment, spec: DatasetSpec) -> Run:
    """The run's model (seeded init, on the device, in its memory format), optimizer and
    gradient transform."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, spec.in_channels, spec.num_classes).to(env.device)
    if env.channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    return Run(cfg, model, build_optimizer(params, cfg), build_grad_transform(cfg), params)


class Pack:
    """K >= 1 runs stepped as one: their model (the plain one for K = 1, else the runs' packed
    model), objective and step rule, and the gradient buffers every run's optimizer reads (its
    parameters' ``.grad`` are views of them). It is the ``Weights`` a step rule works on."""

    def __init__(self, runs: Sequence[Run], env: Environment, num_classes: int) -> None:
        cfgs = [r.cfg for r in runs]
        self.runs = list(runs)
        self.env = env
        self.size = len(runs)
        if self.size == 1:  # the plain model: no grouped convolutions, no layout copies
            self.model = _own_storage(runs[0].model)
            self.params: list[Tensor] = list(runs[0].params)
            self.stacked = [False] * len(self.params)
        else:
            self.model = pack_model([r.model for r in runs])
            links = bindings(self.model)
            self.params = [b.packed for b in links]
            self.stacked = [b.stacked for b in links]
        self.forward = torch.compile(self.model) if cfgs[0].compile else self.model
        self.objective = Objective(cfgs, num_classes)
        self.step_rule = pack_step_rule(cfgs)
        self._buffers: dict[str, list[Tensor]] = {}
        self._views: dict[int, list[list[Tensor]]] = {}
        self.grads = self.buffer("grads")
        for run, views in zip(self.runs, self.per_run(self.grads), strict=True):
            for param, view in zip(run.params, views, strict=True):
                param.grad = view  # the run's optimizer and transform read the pack's buffer

    def per_run(self, tensors: Sequence[Tensor]) -> list[list[Tensor]]:
        """Each run's views of ``tensors`` (laid out like ``params``), in run order; for the
        pack's own buffers, the views made once with the buffer (a step rule asks every step)."""
        cached = self._views.get(id(tensors))
        return cached if cached is not None else self._split(tensors)

    def _split(self, tensors: Sequence[Tensor]) -> list[list[Tensor]]:
        if self.size == 1:
            return [list(tensors)]
        per_tensor = [
            run_views(t, self.size, stacked)
            for t, stacked in zip(tensors, self.stacked, strict=True)
        ]
        return [list(views) for views in zip(*per_tensor, strict=True)]

    def buffer(self, name: str) -> list[Tensor]:
        """A persistent buffer laid out like ``params`` (the gradients, a probe's gradients, a
        saved copy of the weights), with its per-run views."""
        if name not in self._buffers:
            created = [torch.zeros_like(p) for p in self.params]
            self._buffers[name] = created
            self._views[id(created)] = self._split(created)  # alive as long as the pack
        return self._buffers[name]

    def logits(self, images: Tensor) -> Tensor:
        """(K, B, M) logits of the step's images (each run's own, in the pack's layout)."""
        with self.env.autocast():
            logits = self.forward(images)
        return logits.unsqueeze(0) if self.size == 1 else logits

    def shared_logits(self, images: Tensor) -> Tensor:
        """(K, B, M) logits of images (B, C, H, W) that every run sees (evaluation)."""
        if self.size > 1:
            layout = torch.channels_last if self.env.channels_last else torch.contiguous_format
            images = packed_layout(images, self.size, layout, shared=True)
        return self.logits(images)

    def batches(self, splits: Sequence[Split], spec: DatasetSpec) -> PackedBatches:
        """The training batches of the pack's runs: each run's split (its seed's subset),
        order and augmentation, in the pack's layout and its models' dtype."""
        return PackedBatches(
            list(splits),
            [run.cfg.seed for run in self.runs],
            spec,
            self.env.device,
            self.runs[0].cfg.batch_size,
            channels_last=self.env.channels_last,
            dtype=next(self.runs[0].model.parameters()).dtype,
        )

    def set_lrs(self, lrs: Sequence[float]) -> None:
        """Each run's learning rate for the next step; where it is a device tensor (optimizers
        built for cuda_graphs), written into it: an asynchronous fill, no host sync."""
        for run, lr in zip(self.runs, lrs, strict=True):
            for group in run.optimizer.param_groups:
                if isinstance(group["lr"], Tensor):
                    group["lr"].fill_(lr)
                else:
                    group["lr"] = lr


def _own_storage(model: nn.Module) -> nn.Module:
    """A model whose tensors were views into a pack (its pack went on without the others) gets
    storage of its own again, so the old pack's storage can go (same values, same layout)."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor._base is not None:
            tensor.data = tensor.data.clone()
    return model


def train_step(
    pack: Pack, images: Tensor, labels: Tensor, lrs: Sequence[float], s_t: Tensor
) -> tuple[Tensor, Tensor]:
    """One optimizer step of every run of ``pack`` on its batch: images in the pack's layout,
    labels (K, B), each run's lr and its s_t (K,). Returns the detached per-run losses (K,) and
    logits (K, B, M) of the first forward pass. No host sync: the caller sums them on the
    device."""
    pack.set_lrs(lrs)
    return step_gradients_and_update(pack, images, labels, s_t)


def step_gradients_and_update(
    pack: Pack, images: Tensor, labels: Tensor, s_t: Tensor
) -> tuple[Tensor, Tensor]:
    """``train_step`` after the learning rates are set: the part a CUDA graph captures
    (rsmooth/engine/capture.py), reading only tensors."""

    def loss_fn() -> tuple[Tensor, Tensor]:
        logits = pack.logits(images)
        return pack.objective(logits, labels, s_t), logits

    losses, logits = pack.step_rule(pack, loss_fn)
    for run in pack.runs:
        run.grad_transform(run.params)
        run.optimizer.step()
    return losses, logits
