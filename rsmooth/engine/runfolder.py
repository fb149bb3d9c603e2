"""Reading and writing one run folder (format: docs/run-folder.md)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from rsmooth.config import RunConfig
from rsmooth.errors import RsmoothError

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.pt"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then os.replace: readers see old or new."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Epoch records; a last line that does not parse (a run killed mid-write) is ignored."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def summarize(metrics: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """The paper's two metrics (Sec. 6): max over epochs, mean over the last 10% of epochs."""
    if not metrics:
        return {"epochs_completed": 0}
    accs = [m["val_acc"] for m in metrics]
    best = max(range(len(accs)), key=lambda i: accs[i])
    tail = max(1, -(-epochs // 10))  # ceil(epochs / 10) in integers: 0.1 * 30 > 3 in floats
    return {
        "epochs_completed": len(metrics),
        "max_val_acc": accs[best],
        "max_val_acc_epoch": metrics[best]["epoch"],
        "mean_val_acc_last10": sum(accs[-tail:]) / len(accs[-tail:]),
        "final_val_acc": accs[-1],
    }


class RunFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def is_fresh(self) -> bool:
        return not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir()))

    def ensure_fresh(self) -> None:
        if not self.is_fresh():
            status = self.read_summary().get("status", "unknown")
            raise RsmoothError(
                f"run folder {self.path} already exists (status: {status}); "
                f"continue it with --resume {self.path} or choose another --out"
            )

    def create(self, cfg: RunConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.file(CONFIG), cfg.to_yaml().encode())

    def read_config(self) -> RunConfig:
        path = self.file(CONFIG)
        if not path.is_file():
            raise RsmoothError(f"--resume {self.path}: no {CONFIG} there (not a run folder)")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            raise RsmoothError(f"--resume {self.path}: {CONFIG} is not valid YAML") from None
        return RunConfig.from_dict(values)

    def read_summary(self) -> dict[str, Any]:
        try:
            return json.loads(self.file(SUMMARY).read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_bytes(self.file(SUMMARY), (json.dumps(summary, indent=2) + "\n").encode())

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.file(METRICS))

    def truncate_metrics(self, epochs: int) -> list[dict[str, Any]]:
        """Keep the first ``epochs`` records (those the checkpoint covers)."""
        kept = self.read_metrics()[:epochs]
        text = "".join(json.dumps(m) + "\n" for m in kept)
        atomic_write_bytes(self.file(METRICS), text.encode())
        return kept

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.file(METRICS), "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
