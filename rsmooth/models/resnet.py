"""CIFAR ResNets of He et al. 2016, Sec. 4.2: 6n+2 layers, 3 stages of 16/32/64 channels.

docs/methods.md §2.1: option-A identity shortcuts (no parameters) give the published counts,
0.27M for ResNet-20 and 0.85M for ResNet-56.
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

STAGE_WIDTHS = (16, 32, 64)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus an identity shortcut (He et al. 2016, Fig. 2)."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        # Option A (He et al. 2016, Sec. 3.3): subsample by striding and zero-pad the new
        # channels. Decided here, at build time, so forward has no shape logic of its own.
        self.downsample = stride != 1 or in_planes != planes
        self.shortcut_stride = stride
        extra = planes - in_planes
        self.channel_pad = (extra // 2, extra - extra // 2)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if not self.downsample:
            return x
        s = self.shortcut_stride
        # The slice keeps ceil(H/s) rows, which matches the strided 3x3/pad-1 conv for odd H too.
        x = x[:, :, ::s, ::s]
        return F.pad(x, (0, 0, 0, 0, *self.channel_pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """conv3x3(16) -> 3 stages of n BasicBlocks (16, 32, 64 channels) -> global pool -> linear."""

    def __init__(self, depth: int, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1, got {depth}")
        blocks_per_stage = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, STAGE_WIDTHS[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        stages = []
        in_planes = STAGE_WIDTHS[0]
        for index, planes in enumerate(STAGE_WIDTHS):
            first_stride = 1 if index == 0 else 2
            blocks = []
            for block_index in range(blocks_per_stage):
                stride = first_stride if block_index == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(in_planes, num_classes)
        init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.stages(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


# ----------------------------------------------------------------------------- packed form
# K ResNets as one grouped model (rsmooth/models/packed.py: why, and the layout).
class PackedBasicBlock(BasicBlock):
    """``BasicBlock.forward`` on packed layers; the option-A shortcut pads each run's block."""

    def __init__(self, blocks: list[BasicBlock]) -> None:
        nn.Module.__init__(self)
        first = blocks[0]
        self.runs = len(blocks)
        self.conv1 = PackedConv2d([b.conv1 for b in blocks])
        self.bn1 = PackedBatchNorm2d([b.bn1 for b in blocks])
        self.conv2 = PackedConv2d([b.conv2 for b in blocks])
        self.bn2 = PackedBatchNorm2d([b.bn2 for b in blocks])
        self.downsample = first.downsample
        self.shortcut_stride = first.shortcut_stride
        self.channel_pad = first.channel_pad

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if not self.downsample:
            return x
        s = self.shortcut_stride
        x = channels_per_run(x[:, :, ::s, ::s], self.runs)
        return F.pad(x, (0, 0, 0, 0, *self.channel_pad)).flatten(1, 2)


@packs(CifarResNet)
class PackedResNet(CifarResNet):
    """``CifarResNet.forward`` on packed layers: (B, K*C_in, H, W) -> (K, B, M) logits."""

    def __init__(self, models: list[CifarResNet]) -> None:
        nn.Module.__init__(self)
        self.conv1 = PackedConv2d([m.conv1 for m in models])
        self.bn1 = PackedBatchNorm2d([m.bn1 for m in models])
        stages = zip(*(m.stages for m in models), strict=True)
        self.stages = nn.Sequential(
            *(
                nn.Sequential(*(PackedBasicBlock(list(b)) for b in zip(*stage, strict=True)))
                for stage in stages
            )
        )
        self.fc = PackedLinear([m.fc for m in models])  # type: ignore[assignment]  # same role


def init_kaiming(model: nn.Module) -> None:
    """He et al. 2015 normal init for conv and linear weights; BN weight 1, bias 0.

    docs/methods.md §2. fan_in with the ReLU gain, as in the reference CIFAR
    ResNet implementations (akamaster/pytorch_resnet_cifar10).
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


@MODELS.register("resnet20", title="ResNet20")
def resnet20(in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    return CifarResNet(20, in_channels, num_classes)


@MODELS.register("resnet32", title="ResNet32")
def resnet32(in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    return CifarResNet(32, in_channels, num_classes)


@MODELS.register("resnet44", title="ResNet44")
def resnet44(in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    return CifarResNet(44, in_channels, num_classes)


@MODELS.register("resnet56", title="ResNet56")
def resnet56(in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    return CifarResNet(56, in_channels, num_classes)


@MODELS.register("resnet110", title="ResNet110")
def resnet110(in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    return CifarResNet(110, in_channels, num_classes)
