"""Do two sweep folders hold the same results? Every run's epoch records, timings aside.

    python scripts/same_records.py runs/a runs/b

Compares, for each run folder present in both, the epochs both have recorded (a pass cut off
by a time box has fewer; it is not a difference), every key but epoch_seconds and
images_per_second, exactly. Exit 0 when at least one epoch was compared and all agree, else 1
with the first differences. Used by scripts/gpu_session.sh to check that two deterministic
passes repeat bit for bit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TIMINGS = {"epoch_seconds", "images_per_second"}


def records(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in TIMINGS} for x in lines]


def main(a: Path, b: Path) -> int:
    compared, differ = 0, []
    for path in sorted(a.rglob("metrics.jsonl")):
        twin = b / path.relative_to(a)
        if not twin.is_file():
            continue
        ours, theirs = records(path), records(twin)
        both = min(len(ours), len(theirs))
        compared += both
        if ours[:both] != theirs[:both]:
            differ.append(str(path.parent.relative_to(a)))
    print(f"{compared} epochs compared; {len(differ)} runs differ")
    for name in differ[:10]:
        print(f"differs: {name}")
    return 1 if differ or not compared else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
