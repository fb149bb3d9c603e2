"""How much AGR changes a model's gradient: per parameter tensor, on real batches.

AGR (docs/methods.md §4.4) rewrites a tensor's gradient as g <- g - alpha * g with
alpha_i = |g_i| / sum_j |g_j| over that tensor: element i shrinks by the fraction alpha_i, and
the alphas of a tensor sum to 1, so their mean is 1/n for a tensor of n elements. This script
measures the fractions on the model of a run folder (its checkpoint if it has one, else the
initialization of its seed), on the first batches of its training data, so a null result can be
read: a method whose change to the gradient is a part in 10^4 is not expected to move the
accuracy. It reports, per tensor kind, the parameters' share and the largest per-element
fraction, and for the whole model the relative change of the gradient,
||alpha * g|| / ||g|| (L2, all tensors together).

    python scripts/agr_strength.py RUN_DIR [--batches 8]

Runs trained with cross-entropy only (the AGR recipes' loss). Reads the run's data (its
config's data_dir, else Debian's dataset-fashion-mnist). CPU only, one thread, a few seconds.
Not a benchmark of speed: AGR's cost is in `rsmooth bench`.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rsmooth.data.device import DeviceBatches
from rsmooth.data.loading import load_run_splits
from rsmooth.models import build_model
from rsmooth.parts import config_from_dict
from rsmooth.runfolder import CHECKPOINT, RunFolder


def fractions(grad: torch.Tensor) -> torch.Tensor:
    """alpha_i = |g_i| / sum |g| of one tensor (AGR's coefficients); zeros for a zero gradient."""
    size = grad.abs()
    total = size.sum()
    return size / total if total > 0 else torch.zeros_like(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder (config.yaml, maybe checkpoint.pt)")
    parser.add_argument("--batches", type=int, default=8, help="training batches to average over")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = config_from_dict(RunFolder(args.run).read_config_values())
    if cfg.loss != "ce":  # the gradient measured must be the one the run trained on
        sys.exit(f"{args.run}: loss {cfg.loss!r} (allowed here: 'ce', the AGR recipes' loss)")
    spec, (train,), _, _ = load_run_splits([cfg])
    if not 1 <= args.batches <= len(train) // cfg.batch_size:
        sys.exit(f"--batches {args.batches} (allowed: 1 to {len(train) // cfg.batch_size})")
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, spec.in_channels, spec.num_classes)
    source = f"initialization (seed {cfg.seed})"
    if (args.run / CHECKPOINT).is_file():
        state = torch.load(args.run / CHECKPOINT, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        source = f"{CHECKPOINT} after epoch {state.get('epoch', '?')}"
    model.train()
    names = _kinds(model)
    kinds: dict[str, list[float]] = {}  # kind -> [elements, largest alpha]
    changed = total = 0.0
    # the engine's own batches, normalized as in training; in order (no shuffle, no augment)
    ordered = DeviceBatches(train, spec, torch.device("cpu"), cfg.batch_size, train=False)
    for images, labels in itertools.islice(ordered.batches(0, cfg.seed), args.batches):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        for name, param in model.named_parameters():
            if param.grad is None:
                continue
            alpha = fractions(param.grad)
            kind = names[name]
            entry = kinds.setdefault(kind, [0.0, 0.0])
            entry[0] += param.numel() / args.batches
            entry[1] = max(entry[1], float(alpha.max()))
            changed += float((alpha * param.grad).pow(2).sum())
            total += float(param.grad.pow(2).sum())
    elements = sum(e[0] for e in kinds.values())
    print(f"{args.run}: {cfg.model} on {cfg.data}, {source}, {args.batches} batches of "
          f"{cfg.batch_size}, cross-entropy")  # fmt: skip
    print(f"{'tensor kind':<34} {'share of parameters':>20} {'largest alpha_i':>16}")
    for kind, (count, largest) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"{kind:<34} {count / elements:>19.2%} {largest:>16.2e}")
    relative = math.sqrt(changed / total)
    print(f"relative change of the whole gradient, ||alpha g|| / ||g||: {relative:.2e}")


def _kinds(model: nn.Module) -> dict[str, str]:
    """Each parameter's kind and shape, e.g. 'Conv2d weight (64x64x3x3)', by its module."""
    kinds = {}
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            shape = "x".join(str(d) for d in param.shape)
            full = f"{module_name}.{name}" if module_name else name
            kinds[full] = f"{type(module).__name__} {name} ({shape})"
    return kinds


if __name__ == "__main__":
    main()
