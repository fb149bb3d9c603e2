"""Models, selected by name: ``MODELS.get(name)(in_channels=..., num_classes=...)``."""

from rsmooth.models import densenet, resnet  # noqa: F401  (fill the registry)
from rsmooth.models.registry import MODELS, build_model, count_parameters

__all__ = ["MODELS", "build_model", "count_parameters"]
