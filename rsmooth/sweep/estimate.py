"""The cost of a sweep before it runs: epochs left, and seconds where a finished run measured them.

A run's seconds per epoch are taken from completed runs in the out dir that train the same
model on the same data, subset, batch size and step rule on the same kind of device (the
step rule sets the passes per step: SAM and F/B-GR 2x, GR-DB about 3x; docs/methods.md §4).
Everything else (loss, smoothing, optimizer) changes the cost by a few percent at most.

A run whose step rule has no completed run yet, but whose other cost fields do, is scaled from
that run by the two rules' gradient evaluations per step (as registered): so one finished SGD
run of a recipe prices its SAM and GR runs too. The scaling is counted apart and said to be
one: SAM and F/B-GR measured 1.9-2.0x SGD's step here (count 2), but double backprop 8.65x on
the CPU in fp32 (count 3; docs/performance.md), so a scaled double-backprop run is a floor.

On the CPU the device is the CPU itself (its model and kernels: rsmooth.engine.environment.
cpu_name): a ResNet20 step on one core measured ≈ 250 images/s on an AVX2-only EPYC and ≈ 900
on an AMX Xeon (docs/performance.md). Where no completed run of this CPU prices a run, another
CPU's records do, and the line says so: a committed folder cloned onto another machine still
gets an estimate, marked as that machine's speed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsmooth.runfolder import COMPLETED, read_runs
from rsmooth.sweep.state import RunStatus

CostKey = tuple[Any, ...]
COST_FIELDS = ("model", "data", "subset", "holdout", "val_start", "batch_size", "step_rule")
ONE_PASS = "plain"  # the step rule whose measured speed prices the others best


@dataclass(frozen=True)
class CostEstimate:
    runs_left: int
    epochs_left: int
    seconds: float  # for the runs with a measurement
    runs_measured: int  # runs left whose seconds are known (measured or scaled)
    runs_scaled: int = 0  # of those, the ones priced from another step rule's speed
    scaled_rules: tuple[str, ...] = ()  # their step rules
    runs_other_cpu: int = 0  # runs left priced from the records of another CPU than this one


def cost_key(cfg: dict[str, Any], device: str) -> CostKey:
    return (*(cfg.get(name) for name in COST_FIELDS), device)


def measured_seconds_per_epoch(out_dir: Path) -> dict[CostKey, float]:
    """Median seconds per epoch (evaluation included) of completed runs under ``out_dir``."""
    samples: dict[CostKey, list[float]] = {}
    for run in read_runs([out_dir]) if out_dir.is_dir() else []:
        seconds = (run.summary or {}).get("total_seconds")
        if run.status != COMPLETED or not run.epochs_done or not isinstance(seconds, float):
            continue
        device = _measured_device((run.summary or {}).get("environment") or {})
        samples.setdefault(cost_key(run.config or {}, device), []).append(seconds / run.epochs_done)
    return {key: statistics.median(values) for key, values in samples.items()}


def planned_device(requested: str) -> str:
    """The device a run with ``device: requested`` will use on this machine."""
    import torch

    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        from rsmooth.engine.environment import cpu_name

        return f"cpu {cpu_name()}"
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "unknown"
    return f"cuda {name}"


def _measured_device(environment: dict[str, Any]) -> str:
    kind = str(environment.get("device", "")).split(":")[0]
    return f"{kind} {environment.get('device_name') or ''}".rstrip()


def _priced(
    measured: dict[CostKey, float], cfg: dict[str, Any], device: str
) -> tuple[float | None, bool]:
    """Seconds per epoch of a run of ``cfg`` on ``device``, and whether they were scaled."""
    per_epoch = measured.get(cost_key(cfg, device))
    if per_epoch is not None:
        return per_epoch, False
    scaled = scaled_seconds_per_epoch(measured, cfg, device)
    return scaled, scaled is not None


def _priced_elsewhere(
    measured: dict[CostKey, float], cfg: dict[str, Any], devices: list[str]
) -> tuple[float | None, bool]:
    """The first of ``devices`` that measured ``cfg``'s run itself, else the first that prices
    it scaled from another step rule."""
    priced = [_priced(measured, cfg, device) for device in devices]
    exact = [p for p in priced if p[0] is not None and not p[1]]
    scaled = [p for p in priced if p[0] is not None]
    return (exact or scaled or [(None, False)])[0]


def _other_cpus(measured: dict[CostKey, float], device: str) -> list[str]:
    """The CPUs other than ``device`` whose records priced something, by name."""
    return sorted({key[-1] for key in measured if key[-1].split(" ")[0] == "cpu"} - {device})


def scaled_seconds_per_epoch(
    measured: dict[CostKey, float], cfg: dict[str, Any], device: str
) -> float | None:
    """Seconds per epoch of a run whose step rule is not measured, from the measured runs that
    differ from it only in the step rule, times the ratio of gradient evaluations per step:
    from the one-pass rule where it is measured (its count is its cost), else the median over
    the rules measured; None when there is none or a rule declares no count."""
    from rsmooth.identity import gradient_evaluations

    wanted = gradient_evaluations(cfg)
    rule_at = COST_FIELDS.index("step_rule")
    key = cost_key(cfg, device)
    estimates: dict[str, float] = {}
    for other, per_epoch in measured.items():
        if other[:rule_at] + other[rule_at + 1 :] != key[:rule_at] + key[rule_at + 1 :]:
            continue
        count = gradient_evaluations({"step_rule": other[rule_at]})
        if wanted is not None and count:
            estimates[str(other[rule_at])] = per_epoch * wanted / count
    if ONE_PASS in estimates:
        return estimates[ONE_PASS]
    return statistics.median(estimates.values()) if estimates else None


def estimate_cost(statuses: list[RunStatus], out_dir: Path) -> CostEstimate:
    measured = measured_seconds_per_epoch(out_dir)
    devices: dict[str, str] = {}
    left = [s for s in statuses if s.epochs_left > 0]
    seconds, runs_measured, runs_scaled, runs_other_cpu = 0.0, 0, 0, 0
    scaled_rules: dict[str, None] = {}
    for status in left:
        cfg = status.run.config
        if cfg.device not in devices:
            devices[cfg.device] = planned_device(cfg.device)
        device, fields = devices[cfg.device], cfg.to_dict()
        per_epoch, scaled = _priced(measured, fields, device)
        if per_epoch is None and device.startswith("cpu"):
            per_epoch, scaled = _priced_elsewhere(measured, fields, _other_cpus(measured, device))
            if per_epoch is not None:
                runs_other_cpu += 1
        if scaled:
            runs_scaled += 1
            scaled_rules[str(cfg.step_rule)] = None
        if per_epoch is not None:
            seconds += per_epoch * status.epochs_left
            runs_measured += 1
    epochs_left = sum(s.epochs_left for s in left)
    return CostEstimate(
        len(left),
        epochs_left,
        seconds,
        runs_measured,
        runs_scaled,
        tuple(scaled_rules),
        runs_other_cpu,
    )
