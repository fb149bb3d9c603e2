"""The training engine: ``train_run(cfg, out_dir)`` trains one run into a run folder.

step.py (the one training step), trainer.py (the epoch loop), checkpoint.py, environment.py
(device, precision, memory format), progress.py (the display). The run-folder format itself
lives in ``rsmooth.runfolder``, which imports no torch.
"""

from rsmooth.engine.trainer import train_run

__all__ = ["train_run"]
