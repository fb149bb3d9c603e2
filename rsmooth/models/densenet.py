"""DenseNet-BC of Huang et al. 2017 (L = 100, k = 12), the CIFAR/SVHN form of their Table 2.

docs/methods.md §2.1: DenseNet-BC with L = 100, k = 12 (0.8M parameters). BC = bottleneck
layers (1x1 conv to 4k channels before each 3x3) plus compression 0.5 at transitions.
No dropout: the paper uses it only without augmentation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rsmooth.models.packed import (
    PackedBatchNorm2d,
    PackedConv2d,
    PackedLinear,
    channels_per_run,
    packs,
)
from rsmooth.models.registry import MODELS
from rsmooth.models.resnet import init_kaiming


class BottleneckLayer(nn.Module):
    """BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k); its k new maps are appended to its input."""

    def __init__(self, in_planes: int, growth_rate: int) -> None:
        super().__init__()
        inner = 4 * growth_rate
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, inner, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv1(F.relu(self.bn1(x)))
        new = self.conv2(F.relu(self.bn2(new)))
        return torch.cat([x, new], dim=1)


class Transition(nn.Module):
    """BN-ReLU-conv1x1 (compression) then 2x2 average pooling, between dense blocks."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNetBC(nn.Module):
    """conv3x3(2k) -> 3 dense blocks of (L-4)/6 bottleneck layers with 2 transitions between
    -> BN-ReLU -> global pool -> linear (Huang et al. 2017, Sec. 3 and 4.2)."""

    def __init__(
        self,
        depth: int = 100,
        growth_rate: int = 12,
        compression: float = 0.5,
        in_channels: int = 3,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"DenseNet-BC depth must be 6n+4 with n >= 1, got {depth}")
        layers_per_block = (depth - 4) // 6  # each bottleneck layer holds 2 convs
        planes = 2 * growth_rate
        features: list[nn.Module] = [nn.Conv2d(in_channels, planes, 3, padding=1, bias=False)]
        for block_index in range(3):
            for _ in range(layers_per_block):
                features.append(BottleneckLayer(planes, growth_rate))
                planes += growth_rate
            if block_index < 2:
                out_planes = int(planes * compression)
                features.append(Transition(planes, out_planes))
                planes = out_planes
        features += [nn.BatchNorm2d(planes), nn.ReLU()]
        self.features = nn.Sequential(*features)
        self.fc = nn.Linear(planes, num_classes)
        init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


# ----------------------------------------------------------------------------- packed form
# K DenseNet-BCs as one grouped model (rsmooth/models/packed.py: why, and the layout).
class PackedBottleneck(BottleneckLayer):
    """The bottleneck on packed layers; its k new maps are appended to each run's block."""

    def __init__(self, layers: list[BottleneckLayer]) -> None:
        nn.Module.__init__(self)
        self.runs = len(layers)
        self.bn1 = PackedBatchNorm2d([m.bn1 for m in layers])
        self.conv1 = PackedConv2d([m.conv1 for m in layers])
        self.bn2 = PackedBatchNorm2d([m.bn2 for m in layers])
        self.conv2 = PackedConv2d([m.conv2 for m in layers])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv1(F.relu(self.bn1(x)))
        new = self.conv2(F.relu(self.bn2(new)))
        joined = torch.cat([channels_per_run(x, self.runs), channels_per_run(new, self.runs)], 2)
        # The 5-d cat comes out contiguous; the plain model's cat keeps channels_last.
        layout = (
            torch.channels_last
            if x.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format
        )
        return joined.flatten(1, 2).contiguous(memory_format=layout)


class PackedTransition(Transition):
    """``Transition.forward`` (BN-ReLU-conv1x1-avgpool) on packed layers."""

    def __init__(self, transitions: list[Transition]) -> None:
        nn.Module.__init__(self)
        self.bn = PackedBatchNorm2d([t.bn for t in transitions])
        self.conv = PackedConv2d([t.conv for t in transitions])


@packs(DenseNetBC)
class PackedDenseNet(DenseNetBC):
    """``DenseNetBC.forward`` on packed layers: (B, K*C_in, H, W) -> (K, B, M) logits."""

    def __init__(self, models: list[DenseNetBC]) -> None:
        nn.Module.__init__(self)
        layers = zip(*(m.features for m in models), strict=True)
        self.features = nn.Sequential(*(_pack_feature(list(group)) for group in layers))
        self.fc = PackedLinear([m.fc for m in models])  # type: ignore[assignment]  # same role


_FEATURES = {
    nn.Conv2d: PackedConv2d,
    nn.BatchNorm2d: PackedBatchNorm2d,
    BottleneckLayer: PackedBottleneck,
    Transition: PackedTransition,
}


def _pack_feature(layers: list[nn.Module]) -> nn.Module:
    if isinstance(layers[0], nn.ReLU):
        return nn.ReLU()
    return _FEATURES[type(layers[0])](layers)


@MODELS.register("densenet-bc-100", title="DenseNet-BC-100")
def densenet_bc_100(in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    return DenseNetBC(100, 12, 0.5, in_channels, num_classes)
