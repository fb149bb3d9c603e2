"""The training engine: ``train_runs(cfgs, out_dirs)`` trains K >= 1 runs as one pack into
their run folders; ``train_run(cfg, out_dir)`` is one run (a pack of one).

step.py (the one training step over K runs), trainer.py (the one epoch loop), lifecycle.py (a
run folder through training), packing.py (who may share a pack), checkpoint.py,
environment.py (device, precision, memory format), progress.py (the display). The run-folder
format itself lives in ``rsmooth.runfolder``, which imports no torch.
"""

from rsmooth.engine.trainer import train_run, train_runs

__all__ = ["train_run", "train_runs"]
