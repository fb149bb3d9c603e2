"""Packed runs (issue 11): K small runs trained at once as one batched model in one process.

``packable(cfgs)`` says whether runs may share a pack (and why not); ``group_packs`` groups a
sweep's configs into packs of at most K; ``train_packed(cfgs, out_dirs)`` trains a pack into
K ordinary run folders; ``PackedStepper`` times packed steps for ``rsmooth bench``.

Modules, one job each: models.py (the grouped model and why packed storage with per-run
views), objective.py (per-run losses from packed logits), batches.py (K runs' batches in one
gather), step.py (one packed step: per-run optimizers, transforms, step-rule norms),
compat.py (who may share a pack), train.py (run folders, divergence, resume), stepper.py.
"""

from rsmooth.pack.compat import group_packs, packable
from rsmooth.pack.models import pack_model
from rsmooth.pack.stepper import PackedStepper
from rsmooth.pack.train import train_packed

__all__ = ["PackedStepper", "group_packs", "pack_model", "packable", "train_packed"]
