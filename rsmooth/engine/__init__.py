"""The training engine: ``train_run(cfg, out_dir)`` trains one run into a run folder."""

from rsmooth.engine.trainer import Trainer, train_run

__all__ = ["Trainer", "train_run"]
