"""The run folder: the contract between the engine and sweep, report and plot.

One module owns it (format: docs/run-folder.md): the file names, the one status vocabulary,
the writers (atomic where a reader may look), the tolerant readers, and the paper's two
per-run metrics. It imports no torch, so `report`, `plot` and `sweep --dry-run` stay light;
the engine writes its checkpoint bytes through ``atomic_write_bytes``.

Readers never raise on a damaged folder: what cannot be read makes the run ``unreadable``
with a reason. Every file is read once, metrics before summary: the engine replaces the
summary atomically after the metrics line of its epoch is appended, so a run whose summary
says "completed" while our copy of metrics.jsonl is one line short is still ``running``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rsmooth.config import RunConfig, coerce, field_names, read_yaml
from rsmooth.errors import ConfigError, RsmoothError

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"  # the weights of the best epoch on the selection split
LOCK = ".lock"  # held (flock) by the one process that trains the run
LOCK_FD_ENV = "RSMOOTH_RUN_LOCK_FD"  # a sweep's child inherits its runs' locks on these fds

# The status of a run, for every reader and writer. summary.json holds one of the first four
# (the engine's view); a reader derives the rest from what the folder holds.
RUNNING = "running"  # started and not finished: training now, or interrupted (resumable)
COMPLETED = "completed"
DIVERGED = "diverged"  # a NaN/Inf loss: final, the same seed would diverge again
FAILED = "failed"  # an exception; resumable (it may have been transient)
TODO = "todo"  # no config.yaml: not started
UNREADABLE = "unreadable"  # damaged: see the reason
# A reader's status (report, plot): the folder's path names a value (weight_decay=0.001) that
# its config contradicts, e.g. a run of another recipe copied into a sweep's folder.
FOREIGN = "foreign"
STATUSES = (COMPLETED, RUNNING, DIVERGED, FAILED, UNREADABLE, FOREIGN)
FINAL = (COMPLETED, DIVERGED)  # a sweep does not run these again

SPLITS = ("val", "holdout")  # the evaluated splits: the official test split, the held-out part
PAPER_METRICS = ("max", "mean")


# ----------------------------------------------------------------------------- the paper's metrics
def tail_epochs(epochs: int) -> int:
    """ceil(10% of epochs), at least one: the epochs the paper's "mean" averages over."""
    return max(1, -(-epochs // 10))  # in integers: 0.1 * 30 is 3.0000000000000004 in floats


def paper_metric(
    records: Sequence[dict[str, Any]], metric: str, epochs: int, split: str = "val"
) -> float:
    """A run's number (docs/methods.md §2): ``max`` is the best ``<split>_acc`` over the
    epochs; ``mean`` the mean ``<split>_acc`` over the last ``tail_epochs(epochs)`` epochs.

    Epochs without the split's accuracy (not evaluated, ``val_start``) are skipped; ``mean``
    needs every one of its epochs. NaN where the number does not exist (yet).
    """
    key = f"{split}_acc"
    if metric == "max":
        values = [r[key] for r in records if isinstance(r.get(key), (int, float))]
        return max(values) if values else math.nan
    if metric == "mean":
        first = epochs - tail_epochs(epochs) + 1
        tail = [r.get(key) for r in records if r["epoch"] >= first]
        if len(tail) < tail_epochs(epochs) or not all(isinstance(v, (int, float)) for v in tail):
            return math.nan
        return math.fsum(tail) / len(tail)  # type: ignore[arg-type]
    raise ValueError(f"unknown metric {metric!r} (allowed: {', '.join(PAPER_METRICS)})")


def summarize(records: Sequence[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """The headline numbers summary.json repeats (report recomputes them from metrics)."""
    out: dict[str, Any] = {"epochs_completed": len(records)}
    evaluated = [r for r in records if isinstance(r.get("val_acc"), (int, float))]
    if evaluated:
        best = max(evaluated, key=lambda r: r["val_acc"])
        out.update(max_val_acc=best["val_acc"], max_val_acc_epoch=best["epoch"])
        mean = paper_metric(records, "mean", epochs)
        if not math.isnan(mean):
            out["mean_val_acc_last10"] = mean
        out["final_val_acc"] = evaluated[-1]["val_acc"]
    return out


# ----------------------------------------------------------------------------- writing
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then os.replace: readers see old or new.

    The file gets the permissions of a plain ``open()`` (0666 less the umask), not mkstemp's
    0600, so a group can read the results.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; set straight back
    os.umask(mask)
    return mask


def strict_json(value: Any) -> str:
    """JSON without the NaN/Infinity tokens the standard forbids: non-finite floats are null
    (a diverged run's loss), so every reader of the run folder can parse it."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), allow_nan=False)


class RunFolder:
    """The writer's side of one run folder (the engine's)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def is_fresh(self) -> bool:
        if not self.path.exists():
            return True
        return self.path.is_dir() and all(p.name == LOCK for p in self.path.iterdir())

    def remove_litter(self) -> list[Path]:
        """Delete the temporary files a killed writer left (``.<name>.*.tmp``); call it while
        holding the lock, so that no live writer owns them."""
        removed = []
        for path in self.path.glob(".*.tmp"):
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    def ensure_fresh(self) -> None:
        if not self.is_fresh():
            status = read_run(self.path).status
            raise RsmoothError(
                f"run folder {self.path} already exists (status: {status}); "
                f"continue it with --resume {self.path} or choose another --out"
            )

    def create(self, cfg: RunConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.file(CONFIG), cfg.to_yaml().encode())

    def read_config_values(self) -> dict[str, Any]:
        """The run's config.yaml as field values, for --resume: any damage is one line naming
        the file (rsmooth.parts.config_from_dict makes the config: plugins first)."""
        path = self.file(CONFIG)
        if not path.is_file():
            raise RsmoothError(f"--resume {self.path}: no {CONFIG} there (not a run folder)")
        try:
            values = read_yaml(path, CONFIG)
        except ConfigError as err:
            raise RsmoothError(f"--resume {self.path}: {err}") from None
        if not isinstance(values, dict):
            raise RsmoothError(f"--resume {self.path}: {CONFIG} is not a mapping of fields")
        return values

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_bytes(self.file(SUMMARY), (strict_json(summary) + "\n").encode())

    def truncate_metrics(self, epochs: int) -> list[dict[str, Any]]:
        """Keep the first ``epochs`` records (those the checkpoint covers)."""
        kept = read_run(self.path).metrics[:epochs] if self.file(CONFIG).exists() else []
        atomic_write_bytes(
            self.file(METRICS), "".join(strict_json(m) + "\n" for m in kept).encode()
        )
        return kept

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.file(METRICS), "a") as f:
            f.write(strict_json(record) + "\n")
            f.flush()
            os.fsync(f.fileno())


# ----------------------------------------------------------------------------- a sweep's plan
PLANS = "plans"  # <sweep folder>/plans/<recipe>.json: the grid runs a sweep set out to train


@dataclass(frozen=True)
class GridPlan:
    """The grid a sweep planned (its run names, relative to its sweep folder, and their
    variants), so a reader can tell a finished grid from one cut short: a partial grid's best
    is chosen among fewer configurations than the recipe searches, which its run folders alone
    cannot say."""

    recipe: str
    path: Path  # the plan's file: <sweep folder>/plans/<recipe>.json
    runs: tuple[tuple[str, str | None], ...]  # (run name, variant)

    @property
    def folder(self) -> Path:
        """The sweep folder its run names are relative to."""
        return self.path.parent.parent


def plan_path(out_dir: Path, recipe: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in recipe) or "recipe"
    return out_dir / PLANS / f"{safe}.json"


def _plan_bytes(recipe: str, runs: Sequence[tuple[str, str | None]]) -> bytes:
    record = {"recipe": recipe, "grid": [{"run": name, "variant": v} for name, v in runs]}
    return (strict_json(record) + "\n").encode()


def write_plan(out_dir: Path, recipe: str, runs: Sequence[tuple[str, str | None]]) -> Path:
    """Record a sweep's grid before it trains; an identical record is not rewritten (a
    committed one stays byte for byte)."""
    path = plan_path(out_dir, recipe)
    data = _plan_bytes(recipe, runs)
    if path.is_file() and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path


def replaced_plan(
    out_dir: Path, recipe: str, runs: Sequence[tuple[str, str | None]]
) -> GridPlan | None:
    """The folder's plan of this recipe where it differs from ``runs`` (another --trials, an
    edited recipe): the sweep about to replace it says so."""
    path = plan_path(out_dir, recipe)
    if not path.is_file() or path.read_bytes() == _plan_bytes(recipe, runs):
        return None
    return read_plan(path)


def read_plan(path: Path) -> GridPlan | None:
    """One plan file, or None where it is damaged (a plan only adds a warning to a report,
    which stands on the run folders): every run name must be a relative path."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("recipe"), str):
        return None
    grid = record.get("grid")
    if not isinstance(grid, list) or not all(isinstance(r, dict) for r in grid):
        return None
    runs = tuple((r.get("run"), r.get("variant")) for r in grid)
    for name, variant in runs:
        if not _relative_name(name) or not (variant is None or isinstance(variant, str)):
            return None
    return GridPlan(record["recipe"], path, runs)


def _relative_name(name: Any) -> bool:
    if not isinstance(name, str) or not name or "\x00" in name:
        return False
    parts = Path(name).parts
    return not Path(name).is_absolute() and ".." not in parts


def read_plans(roots: Iterable[Path]) -> list[GridPlan]:
    """Every sweep plan under the roots, each once (roots may overlap); damaged ones skipped."""
    plans: dict[Path, GridPlan] = {}
    for root in roots:
        for path in sorted(Path(root).rglob(f"{PLANS}/*.json")):
            key = path.resolve()
            if key not in plans and (plan := read_plan(path)) is not None:
                plans[key] = plan
    return list(plans.values())


# ----------------------------------------------------------------------------- ownership
class RunLockedError(RsmoothError):
    """Another process holds the run folder's lock (it is training that run)."""


@contextmanager
def run_lock(path: str | Path) -> Iterator[int]:
    """Own the run folder ``path`` for the block: an exclusive, non-blocking ``flock`` on its
    ``.lock`` file, which the kernel releases when the process ends, however it ends (no stale
    locks after a SIGKILL). Raises RunLockedError if another process holds it. A sweep's child
    process adopts the lock its parent took for it (fd in RSMOOTH_RUN_LOCK_FD) instead."""
    folder = Path(path)
    inherited = _inherited_lock(folder)
    if inherited is not None:
        yield inherited
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:  # read-only, not ours, a file in the way: a run needs to write
        raise RsmoothError(
            f"cannot train in run folder {folder}: {err.strerror or type(err).__name__} "
            "(allowed: a folder this user can write; copy the run elsewhere to resume it)"
        ) from None
    try:
        if not try_flock(fd):
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RunLockedError(
                f"run folder {folder} is being trained by another process (pid {holder}); "
                "wait for it, or stop it first"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def try_flock(fd: int) -> bool:
    """Take an exclusive flock on ``fd`` without waiting; False if another holder has it."""
    try:
        import fcntl
    except ImportError:  # not a Unix: no locking (documented in docs/run-folder.md)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def is_locked(path: str | Path) -> bool:
    """Whether another process holds the run folder's lock now (a probe: take and release)."""
    lock = Path(path) / LOCK
    if not lock.exists():
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        return not try_flock(fd)
    finally:
        os.close(fd)


def _inherited_lock(folder: Path) -> int | None:
    """The lock fd a parent passed down for exactly this folder's lock file, if any (a packed
    worker inherits one per run: the fds are comma-separated)."""
    try:
        lock = os.stat(folder / LOCK)
    except OSError:
        return None
    for text in os.environ.get(LOCK_FD_ENV, "").split(","):
        try:
            fd = int(text)
            if os.path.samestat(os.fstat(fd), lock):
                return fd
        except (ValueError, OSError):
            continue
    return None


# ----------------------------------------------------------------------------- engines
# An engine is what decides a run's arithmetic beyond its config's experiment: the device (its
# kind and model; on the CPU the model and its kernels' instruction set, AMX or AVX512-BF16 or
# AVX2, rsmooth.engine.environment.cpu_name), the precision, on the CPU the thread count (oneDNN
# splits reductions by thread), and on a GPU deterministic kernels or not. Records of different
# engines are different engines: the report names them, a sweep refuses to mix them
# (rsmooth/sweep/engines.py).
@dataclass(frozen=True)
class Engine:
    device: str  # "cpu" or "cuda"
    # the GPU's model; on the CPU its model and kernels ("AMD EPYC, AVX512-BF16"), or in records
    # written before rsmooth named them, its architecture alone (ARCHITECTURES)
    device_name: str
    precision: str  # "fp32" or "bf16"
    threads: int | None  # on the CPU only: on a GPU the threads do not touch the arithmetic
    deterministic: bool | None  # on a GPU only, where known (CPU runs are deterministic)
    # on a GPU only, where known: captured steps run the optimizers' fused kernels
    cuda_graphs: bool | None = None

    def matches(self, other: Engine) -> bool:
        """The same engine; the ``KERNEL_FLAGS`` count where both sides record them."""
        same_kernels = all(
            a is None or b is None or a == b
            for a, b in ((getattr(self, f), getattr(other, f)) for f in KERNEL_FLAGS)
        )
        return same_kernels and (self.device, self.device_name, self.precision, self.threads) == (
            other.device,
            other.device_name,
            other.precision,
            other.threads,
        )

    @property
    def cpu_unnamed(self) -> bool:
        """A CPU record that names only the machine's architecture, not which CPU it was."""
        return self.device == "cpu" and self.device_name in ARCHITECTURES

    @property
    def cpu_shown(self) -> str:
        return self.device_name or UNNAMED_CPU

    def named_alike(self, other: Engine) -> bool:
        """The same engine but for the CPU's name, where one side's record names no CPU."""
        if self.device != "cpu" or other.device != "cpu":
            return False
        if not (self.cpu_unnamed or other.cpu_unnamed):
            return False
        return self.matches(replace(other, device_name=self.device_name))

    def label(self, with_cpu_name: bool = False) -> str:
        """``cpu fp32, 1 thread``, ``NVIDIA H100 80GB HBM3 bf16, deterministic``."""
        if self.device != "cpu":
            text = f"{self.device_name} {self.precision}"
            if self.deterministic is not None:
                text += ", deterministic" if self.deterministic else ", nondeterministic"
            if self.cuda_graphs:
                text += ", CUDA graphs"
            return text
        text = f"cpu ({self.cpu_shown})" if with_cpu_name else "cpu"
        text += f" {self.precision}"
        if self.threads is not None:
            text += f", {self.threads} thread{'s' * (self.threads != 1)}"
        return text


def shows_cpu_names(engines: Iterable[Engine]) -> bool:
    """Whether labels of these engines must name the CPU: two CPUs' engines may differ in the
    CPU's name alone, and would read as one without it."""
    return len({e.device_name for e in engines if e.device == "cpu"}) > 1


# What records written before rsmooth named the CPU (platform.machine()) say instead: such a
# record matches no named CPU, since nothing in it says whether it ran on that one.
ARCHITECTURES = frozenset(
    {"x86_64", "AMD64", "x86", "i386", "i686", "aarch64", "arm64", "arm", "armv7l", "ppc64",
     "ppc64le", "s390x", "riscv64", ""}
)  # fmt: skip
UNNAMED_CPU = "no CPU name"  # how a record without any device_name is shown

# The config fields that choose a GPU's kernels: recorded in summary.json's environment, part
# of the engine where known (an older record that does not say matches either value).
KERNEL_FLAGS = ("deterministic", "cuda_graphs")


def recorded_engine(summary: dict[str, Any]) -> Engine | None:
    """The engine a summary.json's ``environment`` records; None where it does not say."""
    environment = summary.get("environment")
    if not isinstance(environment, dict) or not environment.get("precision"):
        return None  # written by an rsmooth that did not record it
    kind = str(environment.get("device", "")).split(":")[0]
    threads = environment.get("threads")
    flags = {f: environment.get(f) for f in KERNEL_FLAGS}
    return Engine(
        device=kind,
        device_name=str(environment.get("device_name") or ""),
        precision=str(environment["precision"]),
        threads=threads if kind == "cpu" and isinstance(threads, int) else None,
        **{f: v if kind != "cpu" and isinstance(v, bool) else None for f, v in flags.items()},
    )


# ----------------------------------------------------------------------------- reading
@dataclass
class Run:
    """What one run folder holds, read tolerantly."""

    path: Path
    status: str
    config: dict[str, Any] | None = None  # every config field (missing ones: the defaults)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # one per epoch, by epoch
    summary: dict[str, Any] | None = None
    reason: str = ""  # why the run is not completed, for the lists under the tables
    _metrics_cache: dict[tuple[str, str], float] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def epochs(self) -> int | None:
        """Epochs the run asks for: the config's, else the summary's."""
        value = (self.config or {}).get("epochs")
        if value is None and self.summary:
            value = self.summary.get("epochs")
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return value if ok else None

    @property
    def epochs_done(self) -> int:
        return len(self.metrics)

    @property
    def engine(self) -> Engine | None:
        """What trained the run, from summary.json's environment (its label: "cpu bf16, 1
        thread", "NVIDIA H200 bf16, deterministic"); None where the summary does not say. Runs
        of one configuration may differ here (none of it is part of a configuration's
        identity), and are then never pooled silently (report, sweep)."""
        return recorded_engine(self.summary or {})

    def metric(self, metric: str, split: str = "val") -> float:
        """The paper's ``max`` or ``mean`` of this run on ``split`` (NaN if it has none)."""
        key = (metric, split)
        if key not in self._metrics_cache:  # a report asks for each many times
            epochs = self.epochs or len(self.metrics)
            self._metrics_cache[key] = paper_metric(self.metrics, metric, epochs, split)
        return self._metrics_cache[key]


def find_run_dirs(roots: Iterable[Path]) -> list[Path]:
    """Every folder holding a config.yaml under the given folders (a root may be a run itself)."""
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if (root / CONFIG).is_file():
            found.add(root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            if CONFIG in filenames:
                found.add(Path(dirpath))
    return sorted(found)


def read_runs(roots: Iterable[Path]) -> list[Run]:
    return [read_run(path) for path in find_run_dirs(roots)]


def read_results(roots: Iterable[Path]) -> list[Run]:
    """``read_runs`` for the readers of results (report, plot): a run whose path below its
    root names a value its config contradicts is FOREIGN (left out, listed with the reason)."""
    roots = [Path(r) for r in roots]
    runs = read_runs(roots)
    for run in runs:
        if run.config is None or run.status == UNREADABLE:
            continue
        conflict = layout_conflict(_below(run.path, roots), run.config)
        if conflict:
            run.status, run.reason = FOREIGN, conflict
    return runs


def _below(path: Path, roots: list[Path]) -> tuple[str, ...]:
    """The parts of ``path`` below the first root that holds it (the root's own name is the
    user's choice, not the sweep's layout)."""
    for root in roots:
        try:
            return path.relative_to(root).parts
        except ValueError:
            continue
    return ()


def layout_conflict(parts: Sequence[str], config: dict[str, Any]) -> str:
    """Where a sweep's layout (``<variant>/<field>=<value>,.../seed=<n>``) names a config field
    whose value in config.yaml differs: the reason; else "". Levels without ``=`` and names
    that are no field of the config are not checked."""
    for part in parts:
        for piece in part.split(","):
            name, sep, text = piece.partition("=")
            key = name.replace("-", "_")
            if sep and key in config and not _names_value(text, config[key]):
                return f"its folder says {name}={text}, its {CONFIG} says {key}: {config[key]!r}"
    return ""


def _names_value(text: str, value: Any) -> bool:
    """Whether a folder's text for a field (rsmooth.sweep.naming) names the value."""
    if isinstance(value, bool):
        return text.lower() == str(value).lower()
    if value is None:
        return text.lower() in ("none", "null")
    if isinstance(value, (int, float)):
        try:
            return math.isclose(float(text), float(value), rel_tol=1e-9, abs_tol=0.0)
        except ValueError:
            return False
    if isinstance(value, str):
        return text in (value, value.replace("/", "-").replace("\\", "-").replace(",", "-"))
    return True  # a list (plugins) is never a folder level


def read_run(path: str | Path) -> Run:
    """The run in ``path``, classified; never raises on a damaged folder."""
    path = Path(path)
    if not (path / CONFIG).exists():
        return Run(path, TODO, reason="not started")
    config, problem = _read_config(path / CONFIG)
    if config is None:
        return Run(path, UNREADABLE, reason=problem)
    metrics, problem = _read_metrics(path / METRICS)
    if metrics is None:
        return Run(path, UNREADABLE, config=config, reason=problem)
    run = Run(path, RUNNING, config=config, metrics=metrics, summary=_read_summary(path / SUMMARY))
    run.status, run.reason = _classify(run)
    return run


def _read_config(path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        values = read_yaml(path, CONFIG)
    except ConfigError as err:
        return None, f"{CONFIG} is not {err.allowed}"
    if not isinstance(values, dict):
        return None, f"{CONFIG} is not a mapping of fields"
    problem = _wrong_type(values)
    if problem:
        return None, problem
    # Runs written by an older rsmooth lack newer fields: those take their defaults, which is
    # what the older engine did. Keys of plugins not loaded here are kept as they are.
    config = RunConfig().to_dict()
    config.update({str(k).replace("-", "_"): v for k, v in values.items()})
    return config, ""


def _wrong_type(values: dict[Any, Any]) -> str:
    """The first field whose value is not of the field's type (a list or a mapping where a
    name or a number belongs), as a reason; "" when every known field is well typed: the
    coercion ``RunConfig.from_dict`` applies, so a config the engine can resume is one the
    readers accept. Keys of plugins not loaded here are not checked."""
    known = set(field_names())
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            continue
        try:
            coerce(name, value)
        except ConfigError as err:
            return f"{CONFIG}: {name} is {err.reason()}"
    return ""


def _read_metrics(path: Path) -> tuple[list[dict[str, Any]] | None, str]:
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return [], ""
    except OSError as err:
        return None, f"{METRICS}: {err.strerror or type(err).__name__}"
    lines = [line for line in text.splitlines() if line.strip()]
    by_epoch: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        record, problem = _parse_record(line)
        if record is None:
            if number == len(lines) and problem == "not JSON":
                break  # a run killed (or being read) while writing its last line
            return None, f"{METRICS} line {number}: {problem}"
        by_epoch[record["epoch"]] = record  # a repeated epoch (resume): the later line wins
    return [by_epoch[e] for e in sorted(by_epoch)], ""


def _parse_record(line: str) -> tuple[dict[str, Any] | None, str]:
    """A metrics line, or (None, what is wrong). Numbers may be null or non-finite (a diverged
    epoch); anything else that is not a number is damage."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):  # nested past the parser's limit: damage too
        return None, "not JSON"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    epoch = record.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        return None, f"epoch {epoch!r} is not an integer >= 1"
    for key, value in record.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return None, f"{key} {value!r} is not a number"
    return record, ""


def _read_summary(path: Path) -> dict[str, Any] | None:
    try:
        summary = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None  # absent, or damaged: the run is judged by its metrics
    return summary if isinstance(summary, dict) else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _epochs_problem(run: Run) -> str:
    """Why a run has no usable epoch count: none given, or one that is not a count."""
    for where, values in ((CONFIG, run.config or {}), (SUMMARY, run.summary or {})):
        value = values.get("epochs")
        if value is not None:
            return f"epochs {value!r} in {where} is not an integer >= 1"
    return f"no epoch count in {CONFIG} or {SUMMARY}"


def _classify(run: Run) -> tuple[str, str]:
    status = (run.summary or {}).get("status")
    if status in (DIVERGED, FAILED):
        error = str((run.summary or {}).get("error", "")).strip().splitlines()
        return status, (error[0] if error else status)
    epochs = run.epochs
    if epochs is None:
        return UNREADABLE, _epochs_problem(run)
    for record in run.metrics:
        for key in ("train_loss", "val_acc", "holdout_acc"):
            if key in record and not _finite(record[key]):
                return DIVERGED, f"non-finite {key} in epoch {record['epoch']}"
    progress = f"{run.epochs_done}/{epochs} epochs"
    if run.epochs_done < epochs:
        return RUNNING, progress
    # All epochs logged. A summary still saying "running" means the engine is between its
    # last metrics line and its final summary; no summary at all means logs copied without it.
    if status not in (None, COMPLETED):
        return RUNNING, f"{progress}, summary status {status!r}"
    return COMPLETED, ""
