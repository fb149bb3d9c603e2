"""Fake but well-formed run folders (docs/run-folder.md) with chosen numbers, for report/plot.

The config is the resolved ``RunConfig`` the engine would write, and the summary carries the
``method`` block the engine writes (``rsmooth.identity.describe``), so a fixture run differs
from a real one only in its numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from rsmooth.config import RunConfig
from rsmooth.identity import describe
from rsmooth.parts import resolve


def config_dict(**fields: Any) -> dict[str, Any]:
    """What the engine writes to config.yaml: the resolved config, every field."""
    return resolve(RunConfig.from_dict(fields)).to_dict()


def metrics_lines(
    val_acc: Sequence[float],
    train_loss: Sequence[float] | None = None,
    val_loss: Sequence[float] | None = None,
    steps_per_epoch: int = 10,
) -> list[str]:
    """One JSON line per epoch with every key of run-folder.md; losses default to a decay."""
    lines = []
    for i, acc in enumerate(val_acc):
        epoch = i + 1
        record = {
            "epoch": epoch,
            "step": epoch * steps_per_epoch,
            "lr": 0.1,
            "s_t": 0.0,
            "train_loss": train_loss[i] if train_loss is not None else 0.8 / epoch,
            "train_acc": min(100.0, acc + 2.0),
            "val_loss": val_loss[i] if val_loss is not None else 0.9 / epoch + 0.05,
            "val_acc": acc,
            "epoch_seconds": 1.5,
            "images_per_second": 1000.0,
        }
        lines.append(json.dumps(record) + "\n")
    return lines


def summary_dict(
    cfg: dict[str, Any], val_acc: Sequence[float], status: str, error: str | None = None
) -> dict[str, Any]:
    epochs = cfg["epochs"]
    summary: dict[str, Any] = {"status": status, "epochs": epochs, "epochs_completed": len(val_acc)}
    summary["method"] = describe(cfg)
    if val_acc:
        best = max(range(len(val_acc)), key=lambda i: val_acc[i])
        last = val_acc[-math.ceil(epochs / 10) :]
        summary.update(
            max_val_acc=val_acc[best],
            max_val_acc_epoch=best + 1,
            mean_val_acc_last10=sum(last) / len(last),
            final_val_acc=val_acc[-1],
        )
    if error:
        summary["error"] = error
    summary["total_seconds"] = 1.5 * len(val_acc)
    return summary


def write_run(
    root: Path,
    name: str,
    val_acc: Sequence[float],
    *,
    status: str = "completed",
    train_loss: Sequence[float] | None = None,
    val_loss: Sequence[float] | None = None,
    error: str | None = None,
    write_summary: bool = True,
    **fields: Any,
) -> Path:
    """A run folder ``root/name``; epochs default to len(val_acc) (a finished run)."""
    fields.setdefault("epochs", len(val_acc))
    cfg = config_dict(**fields)
    run = Path(root) / name
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (run / "metrics.jsonl").write_text("".join(metrics_lines(val_acc, train_loss, val_loss)))
    if write_summary:
        summary = summary_dict(cfg, val_acc, status, error)
        (run / "summary.json").write_text(json.dumps(summary))
    return run


def write_trials(
    root: Path, name: str, curves: Sequence[Sequence[float]], **fields: Any
) -> list[Path]:
    """One completed run per curve, seeds 0, 1, ...: ``root/name/seed<k>``."""
    return [
        write_run(root, f"{name}/seed{seed}", curve, seed=seed, **fields)
        for seed, curve in enumerate(curves)
    ]


def flat_curve(final: float, epochs: int, peak_bonus: float = 0.0) -> list[float]:
    """A curve rising to ``final`` with its maximum ``final + peak_bonus`` one epoch before the
    end, so max and mean differ in a way a test can compute by hand."""
    curve = [final - 10.0 + 10.0 * (e + 1) / epochs for e in range(epochs)]
    if epochs >= 2:
        curve[-2] = final + peak_bonus
    return curve


TIMINGS = ("epoch_seconds", "images_per_second")


def read_metrics(folder: Path, timings: bool = True) -> list[dict[str, Any]]:
    """A run folder's epoch records, in order (without the timings: ``timings=False``)."""
    lines = (Path(folder) / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    if timings:
        return records
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in records]


def tiny_config(data_dir: Path, **fields: Any) -> RunConfig:
    """A tiny run of synthetic data: batches of 8, 2 epochs, one thread, no autocast (every
    field can be overridden, a plugin's too)."""
    base = dict(
        data_dir=str(data_dir),
        epochs=2,
        batch_size=8,
        eval_batch_size=16,
        precision="fp32",
        num_threads=1,
    )
    return RunConfig.from_dict({**base, **fields})
