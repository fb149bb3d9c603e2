"""The model registry: each architecture file registers its builders here."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from rsmooth.registry import Registry

ModelBuilder = Callable[..., nn.Module]  # (in_channels: int, num_classes: int) -> nn.Module

MODELS: Registry[ModelBuilder] = Registry("model", "model")


def build_model(name: str, in_channels: int, num_classes: int) -> nn.Module:
    return MODELS.get(name)(in_channels=in_channels, num_classes=num_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
