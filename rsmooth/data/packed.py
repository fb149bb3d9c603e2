"""The training batches of K >= 1 runs trained as one pack: one gather per step for all K.

Every run keeps its own data: its own training split (its seed's subset), order and
augmentation (``draw_epoch_plan`` with its own seed: the very draws a separate run's
``DeviceBatches`` makes). The runs' splits are stacked into one on-device tensor (held once
when they are the same split), so that a step's K batches come from one gather and one
normalisation (the op count stays flat in K), laid out as the packed model takes them:
(B, K*C, H, W) with run k's images in channels [k*C, (k+1)*C). One run (K = 1) is a pack of
one: its batches are ``DeviceBatches``' own, (B, C, H, W), with labels (1, B).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from rsmooth.data.device import DeviceBatches, draw_epoch_plan
from rsmooth.data.registry import DatasetSpec, Split


def packed_layout(
    images: torch.Tensor, runs: int, memory_format: torch.memory_format, *, shared: bool = False
) -> torch.Tensor:
    """K runs' images as one (B, K*C, H, W) tensor in ``memory_format``, in one copy kernel.

    ``images``: (K*B, C, H, W), run k's batch the k-th block (training); or with ``shared``,
    (B, C, H, W) images that every run sees (evaluation).
    """
    batch = images.shape[0] if shared else images.shape[0] // runs
    channels, *size = images.shape[1:]
    if shared:
        per_run = images.unsqueeze(1).expand(-1, runs, -1, -1, -1)
    else:
        per_run = images.view(runs, batch, channels, *size).transpose(0, 1)
    out = torch.empty(
        (batch, runs * channels, *size),
        dtype=images.dtype,
        device=images.device,
        memory_format=memory_format,
    )
    out.unflatten(1, (runs, channels)).copy_(per_run)
    return out


class PackedBatches:
    """The training batches of K runs: (images (B, K*C, H, W), labels (K, B)) per step."""

    def __init__(
        self,
        splits: list[Split],
        seeds: list[int],
        spec: DatasetSpec,
        device: torch.device,
        batch_size: int,
        *,
        channels_last: bool,
        dtype: torch.dtype,
    ) -> None:
        sizes = {len(split) for split in splits}
        if len(sizes) != 1:
            raise ValueError(f"packed runs need training splits of one size, got {sorted(sizes)}")
        self.num_samples = sizes.pop()
        self.seeds = seeds
        self.batch_size = batch_size
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        distinct: list[Split] = []
        for split in splits:  # the same split object (no subset, or equal seeds) is held once
            if not any(split is d for d in distinct):
                distinct.append(split)
        position = [next(i for i, d in enumerate(distinct) if d is split) for split in splits]
        self.offsets = [i * self.num_samples for i in position]
        stacked = (
            distinct[0]
            if len(distinct) == 1
            else Split(
                torch.cat([d.images for d in distinct]), torch.cat([d.labels for d in distinct])
            )
        )
        self.source = DeviceBatches(
            stacked, spec, device, batch_size, train=True, channels_last=channels_last, dtype=dtype
        )

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        source, runs = self.source, len(self.seeds)
        plans = [
            draw_epoch_plan(self.num_samples, source.augment, source.device, epoch, seed)
            for seed in self.seeds
        ]
        order = torch.stack([p.order + k for p, k in zip(plans, self.offsets, strict=True)])
        crops = []  # (K, N) crop offsets and flips, on an augmented split
        if source.augment:
            crops = [torch.stack([getattr(p, f) for p in plans]) for f in ("dy", "dx", "flip")]
        for start in range(0, self.num_samples, self.batch_size):
            window = slice(start, start + self.batch_size)
            indices = order[:, window].reshape(-1)  # run-major: run k's batch is the k-th block
            images = source.gather(indices, *(c[:, window].reshape(-1) for c in crops))
            labels = source.labels.index_select(0, indices).view(runs, -1)
            # One run: the plain model's layout already (DeviceBatches normalised it into it).
            yield (images if runs == 1 else packed_layout(images, runs, self.memory_format)), labels
