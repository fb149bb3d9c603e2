"""K per-run models as one grouped model: one forward pass trains K runs (K >= 2).

Each architecture registers its packed form beside its plain class (``@packs(CifarResNet)``
in resnet.py, ``@packs(DenseNetBC)`` in densenet.py); this module holds the packed layers they
are built of. Layout: run k owns the k-th block of every channel dimension. A (B, K*C, H, W)
activation holds K runs' activations side by side; every convolution is one ``groups=K`` convolution
(run k's filters see run k's channels only), BatchNorm runs over K*C channels (so batch and
running statistics stay per run: a channel belongs to one run), the option-A shortcut and
DenseNet's concatenation act per run on a (B, K, C, H, W) view, and the classifier is one
batched matmul giving (K, B, M) logits. Nothing mixes runs: a NaN in one run stays there.

Mechanism: packed *storage*, per-run *views*. The packed modules own the packed
parameters and buffers (the concatenation of K ordinary models, each built and seeded as the
engine builds it); every per-run model's parameters and buffers are then re-pointed to their
slice of that storage (``t.data = view``: the tensors keep their identity). Forward and backward
run on the packed tensors, while each run keeps an ordinary model, optimizer and gradient
transform acting on its views, so the engine's own optimizer code, AGR and checkpoints
(``model.state_dict()``, read by the engine's ``--resume``) hold per run unchanged.
- Against per-run leaf parameters concatenated inside forward: no cat per parameter in every
  forward (59 in ResNet20) nor its split in every backward; here one foreach copy moves the
  packed gradients into buffers that the runs' ``.grad`` views read.
- Against one packed optimizer with (K,) hyperparameter tensors: that would save the per-run
  optimizer launches, measured as +6 dispatched ops per run per SGD step (aten ops per step,
  foreach optimizers as on CUDA: one run 341; packed K = 1, 2, 4, 8: 304, 312, 324, 348; SAM
  715 vs 639, 655, 681, 733), and on the CPU 16 ms of a 3.7 s K=4 step (0.4%); it would cost a
  re-implementation of five optimizers and AGR and an unpacking step per checkpoint. With views
  a packed run matches its separate run to ~1e-13 (tests/test_goldens.py).
The op count thus stays nearly flat in K, which is what a launch-bound GPU needs. On the 2-core
AVX2 CPU here (1 thread, ResNet20, 28x28, batch 128, alternating blocks) packing is slower:
aggregate images/s of K packed / K separate runs, fp32 channels_last: 0.97, 0.77, 0.72 for
K = 1, 2, 4; bf16 autocast (emulated, 10x slower): 1.02, 1.04, 0.90. The K-fold activations
fall out of the 32 MB L3 cache (K=4 against K=1: ReLU 10x, BatchNorm backward 7x, convolution
backward 6x the time for 4x the work), so on such a CPU packs fall back to separate runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

import torch
from torch import Tensor, nn

M = TypeVar("M", bound=type[nn.Module])
# plain model class -> the builder of its packed form (list of K plain models -> packed model)
PACKED_FORMS: dict[type[nn.Module], Callable[[list[nn.Module]], nn.Module]] = {}


def packs(plain: type[nn.Module]) -> Callable[[M], M]:
    """Register the decorated class as the packed form of ``plain`` (its constructor takes the
    K plain models)."""

    def register(packed: M) -> M:
        PACKED_FORMS[plain] = packed
        return packed

    return register


def packed_form(model_class: type[nn.Module]) -> Callable[[list[nn.Module]], nn.Module] | None:
    """The packed builder registered for ``model_class`` (or a base class of it), else None."""
    for cls in model_class.__mro__:
        if cls in PACKED_FORMS:
            return PACKED_FORMS[cls]
    return None


def pack_model(models: list[nn.Module]) -> nn.Module:
    """One packed model over ``models`` (same architecture); their tensors become its views.

    The packed model maps (B, K*C_in, H, W) inputs to (K, B, M) logits. Packing copies; the
    per-run models stay usable (their tensors live in the packed storage) and can be packed
    again with other runs, which re-points them to the new storage.
    """
    kinds = {type(m) for m in models}
    build = packed_form(type(models[0])) if len(kinds) == 1 else None
    if build is None:
        raise ValueError(f"cannot pack models of types {sorted(k.__name__ for k in kinds)}")
    return build(models)


def bindings(packed: nn.Module) -> list[Binding]:
    """Every packed parameter of ``packed`` with the per-run parameters that view it."""
    return [b for m in packed.modules() if isinstance(m, PackedLayer) for b in m.bindings]


class Binding(NamedTuple):
    """A packed parameter and the K per-run parameters that are views into it."""

    packed: nn.Parameter
    runs: list[Tensor]
    stacked: bool  # runs along a new dim 0 (K, *shape); else run-major blocks of dim 0


def run_views(packed: Tensor, runs: int, stacked: bool) -> list[Tensor]:
    """Run k's slice of a packed tensor (or of a tensor laid out like it, e.g. its gradient)."""
    return list(packed.unbind(0)) if stacked else list(packed.chunk(runs))


def share(tensors: Sequence[Tensor], stacked: bool = False) -> Tensor:
    """One packed tensor holding ``tensors`` run-major; each of them is re-pointed to its slice.

    ``cat`` keeps channels_last conv weights channels_last, so every run's view has the
    strides of its own original tensor.
    """
    with torch.no_grad():
        packed = torch.stack(list(tensors)) if stacked else torch.cat(list(tensors))
    for tensor, view in zip(tensors, run_views(packed, len(tensors), stacked), strict=True):
        tensor.data = view
    return packed


class PackedLayer(nn.Module):
    """A packed leaf layer: its parameters and the per-run parameters bound to them."""

    bindings: list[Binding]

    def share_parameter(self, name: str, params: Sequence[Tensor], stacked: bool = False) -> None:
        packed = nn.Parameter(share(params, stacked), requires_grad=params[0].requires_grad)
        setattr(self, name, packed)
        self.bindings.append(Binding(packed, list(params), stacked))


class PackedConv2d(nn.Conv2d, PackedLayer):
    """K convolutions as one ``groups=K`` convolution over K*C_in -> K*C_out channels."""

    def __init__(self, convs: list[nn.Conv2d]) -> None:
        c, runs = convs[0], len(convs)
        super().__init__(
            runs * c.in_channels,
            runs * c.out_channels,
            _pair(c.kernel_size),
            _pair(c.stride),
            c.padding if isinstance(c.padding, str) else _pair(c.padding),
            _pair(c.dilation),
            runs * c.groups,
            c.bias is not None,
            c.padding_mode,
            device="meta",  # the parameters are the runs' own, shared below
        )
        self.bindings = []
        self.share_parameter("weight", [m.weight for m in convs])
        if c.bias is not None:
            self.share_parameter("bias", [m.bias for m in convs if m.bias is not None])


class PackedBatchNorm2d(nn.BatchNorm2d, PackedLayer):
    """K BatchNorms as one over K*C channels; ``num_batches_tracked`` holds one count per run.

    Being a ``BatchNorm2d``, it keeps its forward, train/eval behaviour and
    ``rsmooth.methods.bn.bn_stats_frozen`` (the second pass of SAM / F-GR / B-GR) unchanged.
    """

    def __init__(self, norms: list[nn.BatchNorm2d]) -> None:
        n = norms[0]
        super().__init__(
            len(norms) * n.num_features,
            n.eps,
            n.momentum,
            n.affine,
            n.track_running_stats,
            device="meta",
        )
        self.bindings = []
        if n.affine:
            self.share_parameter("weight", [m.weight for m in norms])
            self.share_parameter("bias", [m.bias for m in norms])
        if n.track_running_stats:
            self.running_mean = share(_buffers(norms, "running_mean"))
            self.running_var = share(_buffers(norms, "running_var"))
            # (K,): BatchNorm's add_(1) counts every run's batch at once
            self.num_batches_tracked = share(_buffers(norms, "num_batches_tracked"), True)


class PackedLinear(PackedLayer):
    """K linear layers as one batched matmul: (B, K*C) features -> (K, B, M) logits."""

    weight: Tensor

    def __init__(self, linears: list[nn.Linear]) -> None:
        super().__init__()
        self.runs = len(linears)
        self.bindings = []
        self.share_parameter("weight", [m.weight for m in linears], stacked=True)  # (K, M, C)
        self.bias: Tensor | None = None
        if linears[0].bias is not None:
            biases = [m.bias for m in linears if m.bias is not None]
            self.share_parameter("bias", biases, stacked=True)  # (K, M)

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], self.runs, -1).transpose(0, 1)  # (K, B, C)
        weight = self.weight.transpose(1, 2)
        if self.bias is None:
            return torch.bmm(x, weight)
        return torch.baddbmm(self.bias.unsqueeze(1), x, weight)


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    """A 2-d conv's size argument as the pair Conv2d's signature names."""
    if isinstance(value, int):
        return (value, value)
    return (value[0], value[1])


def _buffers(norms: Sequence[nn.BatchNorm2d], name: str) -> list[Tensor]:
    found = [getattr(m, name) for m in norms]
    if any(t is None for t in found):
        raise ValueError(f"BatchNorm without {name} cannot be packed")
    return found


def channels_per_run(x: Tensor, runs: int) -> Tensor:
    """(B, K*C, H, W) -> the (B, K, C, H, W) view: run k's channels at [:, k]."""
    return x.unflatten(1, (runs, -1))
