"""BatchNorm running statistics during the extra passes of two-pass step rules.

SAM and the finite-difference GR variants run a second forward pass on the same minibatch
at perturbed weights. That pass must normalize with its own batch statistics (it is the
loss at the perturbed point, train mode), but must not move the running statistics: they
are updated by the first pass only, as in the SAM reference code (docs/methods.md §4.1, §4.2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@contextmanager
def bn_stats_frozen(model: nn.Module) -> Iterator[None]:
    """Within the block, BatchNorm layers in train mode leave their running statistics alone.

    With ``track_running_stats`` off, a train-mode ``_BatchNorm`` normalizes with the batch
    statistics (the same computation as before) and receives no running buffers, so
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` stay bitwise unchanged and
    no extra kernel runs (unlike saving and copying the buffers back, or ``momentum = 0``,
    which still writes them and turns a NaN batch statistic into a NaN running one).
    Layers in eval mode already use and keep their running statistics; they are not touched.
    """
    frozen = [
        module
        for module in model.modules()
        if isinstance(module, _BatchNorm) and module.training and module.track_running_stats
    ]
    for module in frozen:
        module.track_running_stats = False
    try:
        yield
    finally:
        for module in frozen:
            module.track_running_stats = True
