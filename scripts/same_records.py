"""Do two sweep folders hold the same results? Every run's metrics.jsonl, timings aside.

    python scripts/same_records.py runs/a runs/b

Exit 0 when every run folder of A has a twin in B with equal epoch records (every key but
epoch_seconds and images_per_second, compared exactly), else 1 with the first differences.
Used by scripts/gpu_session.sh to check that two deterministic passes repeat bit for bit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TIMINGS = {"epoch_seconds", "images_per_second"}


def records(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in TIMINGS} for x in lines]


def main(a: Path, b: Path) -> int:
    found = sorted(a.rglob("metrics.jsonl"))
    differ = [
        str(p.relative_to(a))
        for p in found
        if not (b / p.relative_to(a)).is_file() or records(p) != records(b / p.relative_to(a))
    ]
    print(f"{len(found) - len(differ)} of {len(found)} runs identical")
    for name in differ[:10]:
        print(f"differs: {name}")
    return 1 if differ or not found else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
