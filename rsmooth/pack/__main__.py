"""``python -m rsmooth.pack RUN_DIR...``: trains the runs of these folders as one pack.

A sweep's worker (``rsmooth sweep --pack K``): the sweep writes each folder's config.yaml and
takes its lock, which this process inherits; it resumes every run from its checkpoint, if any.
Exit codes as `rsmooth train`: 0 all completed, 2 a user error, 3 a run diverged (the others
went on), 4 a failure after the start, 130 interrupted (resumable).
"""

from __future__ import annotations

import sys
from pathlib import Path

from rsmooth import interrupt
from rsmooth.errors import EXIT_DIVERGED, EXIT_FAILED, EXIT_INTERRUPTED, RsmoothError


def main(argv: list[str] | None = None) -> None:
    interrupt.install()
    folders = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    if not folders:
        print("usage: python -m rsmooth.pack RUN_DIR [RUN_DIR ...]", file=sys.stderr)
        sys.exit(2)
    try:
        from rsmooth.pack.train import train_packed

        summaries = train_packed([None] * len(folders), folders, resume=True, quiet=True)
    except RsmoothError as err:
        _fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted (resumable: run the sweep again)", EXIT_INTERRUPTED)
    except Exception as err:  # recorded as failed in the runs' summaries; one line here
        _fail(f"pack failed: {type(err).__name__}: {err}".splitlines()[0], EXIT_FAILED)
    statuses = {s.get("status") for s in summaries}
    sys.exit(EXIT_DIVERGED if "diverged" in statuses else 0)


def _fail(message: str, code: int) -> None:
    print(f"rsmooth: error: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
