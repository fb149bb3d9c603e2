"""The tables of `rsmooth bench`: JSON-able rows and their Markdown lines."""

from __future__ import annotations

from typing import Any

from rsmooth.bench.catalogue import METHODS, target
from rsmooth.bench.harness import Timing, paired_ratio, round_ratios


def methods_table(timings: dict[str, Timing]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each method's step time and its ratio to SGD (the first timing), with the target its
    gradient evaluations allow."""
    reference = timings["sgd"]
    rows, lines = (
        [],
        [
            "| method | step ms (median) | images/s | peak MiB | × SGD | per round | within |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ],
    )
    for name, t in timings.items():
        ratio, spread = paired_ratio(t, reference), round_ratios(t, reference)
        limit = None if name == "sgd" else target(METHODS[name])
        rows.append(
            {
                "method": name,
                "median_step_ms": t.median_step_ms,
                "images_per_second": t.images_per_second,
                "peak_memory_mb": t.peak_memory_mb,
                "ratio_to_sgd": ratio,
                "ratio_per_round": spread,
                "target": limit,
                "block_seconds": t.block_seconds,
            }
        )
        mem = f"{t.peak_memory_mb:,.0f}" if t.peak_memory_mb is not None else "-"
        verdict = "" if limit is None else f"≤ {limit:.2f} {'ok' if ratio <= limit else 'MISSED'}"
        lines.append(
            f"| {name} | {t.median_step_ms:.2f} | {t.images_per_second:,.0f} | {mem} "
            f"| {ratio:.3f} | {min(spread):.2f}-{max(spread):.2f} | {verdict} |"
        )
    return rows, lines


def engine_table(timings: dict[str, Timing]) -> tuple[dict[str, Any], list[str]]:
    """The plain loop against the engine: the engine's speed-up."""
    plain, ours = timings["plain loop"], timings["engine"]
    speedup, spread = paired_ratio(plain, ours), round_ratios(plain, ours)
    lines = [
        "| loop | step ms (median) | images/s | speed-up | per round |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| plain PyTorch (torchvision + DataLoader, eager fp32) | {plain.median_step_ms:.2f} "
        f"| {plain.images_per_second:,.0f} | 1.00 | |",
        f"| rsmooth engine | {ours.median_step_ms:.2f} | {ours.images_per_second:,.0f} "
        f"| {speedup:.2f} | {min(spread):.2f}-{max(spread):.2f} |",
    ]
    fields = {
        "engine": [
            {
                "loop": t.name,
                "median_step_ms": t.median_step_ms,
                "images_per_second": t.images_per_second,
                "block_seconds": t.block_seconds,
            }
            for t in (plain, ours)
        ],
        "engine_speedup": speedup,
        "engine_speedup_per_round": spread,
    }
    return fields, lines


def packs_table(found: dict[int, dict[str, Timing]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Per K: the aggregate images/s of K separate runs and of the pack, and their ratio."""
    rows, lines = (
        [],
        [
            "| K runs | separate images/s | packed images/s | packed / separate | per round |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ],
    )
    for k, timings in found.items():
        separate, packed = timings["separate"], timings["packed"]
        ratio, spread = paired_ratio(separate, packed), round_ratios(separate, packed)
        rows.append(
            {
                "k": k,
                "separate_images_per_second": separate.images_per_second,
                "packed_images_per_second": packed.images_per_second,
                "packed_over_separate": ratio,
                "packed_over_separate_per_round": spread,
            }
        )
        lines.append(
            f"| {k} | {separate.images_per_second:,.0f} | {packed.images_per_second:,.0f} "
            f"| {ratio:.2f} | {min(spread):.2f}-{max(spread):.2f} |"
        )
    return rows, lines
