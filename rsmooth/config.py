"""RunConfig: the one frozen description of a training run.

The CLI flags and the YAML recipes build it; ``rsmooth.parts.resolve`` fills the per-dataset and
per-optimizer defaults (docs/methods.md §2) and validates every field once, before any data
or GPU work; the resolved config is written verbatim to ``config.yaml`` in the run folder,
and is enough to repeat the run.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from rsmooth.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


# ----------------------------------------------------------------------
# How a pack treats a field (rsmooth/engine/packing.py): K runs trained as one model in one
# process share some fields and carry others per run. Every field declares which, here where it
# is declared; a field that declares nothing (a plugin's field without ``pack=``) is treated as
# shared: runs that differ in it are never packed together (fail closed, never ignored).
@dataclass(frozen=True)
class Shared:
    """Every run of a pack has the same value, because ``why``."""

    why: str


@dataclass(frozen=True)
class PerRun:
    """Runs of a pack may differ here: the mechanism ``by`` carries the value per run.
    ``unless``: a field whose truthy value makes this one shared after all (``why_unless``)."""

    by: str
    unless: str | None = None
    why_unless: str = ""


Packing = Shared | PerRun

# The mechanisms that carry a field per run, named once (docs/architecture.md, "One engine").
SEED = PerRun(
    "each run's own model init, data order, augmentation and subset, drawn from its seed",
    unless="holdout",
    why_unless="each seed holds out its own class-stratified part, so the training-set sizes "
    "(and batches per epoch) may differ",
)
OPTIMIZER = PerRun("each run's own optimizer over its own parameters")
SCHEDULE = PerRun("each run's own lr and s_t, pure functions of its step")
OBJECTIVE = PerRun("the objective's per-run (K,) tensors (rsmooth/methods/losses.py)")
STEP_RULE = PerRun("the step rule's per-run (K,) hyperparameters (rsmooth/methods/step_rules.py)")
TRANSFORM = PerRun("each run's own gradient transform over its own gradients")
DATA = Shared("one data set feeds the pack")


def _field(
    default: Any,
    group: str,
    help: str,
    *,
    pack: Packing,
    identity: bool = True,
    short: str | None = None,
    label: str = "always",
) -> Any:
    """A config field. ``pack``: how a pack of runs treats it (Shared or PerRun, above).
    ``identity=False``: the field says where or how fast a run computes, not
    what (device, threads, ...): runs differing only there are trials of one configuration.
    ``short``: the name a method label uses (``gr_gamma`` -> ``γ``; "" shows the value alone).
    ``label="changed"``: a label shows the field only when it is not at its default."""
    metadata = {
        "group": group,
        "help": help,
        "identity": identity,
        "short": short,
        "label": label,
        "pack": pack,
    }
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class RunConfig:
    # --- data (rsmooth/data) ---
    data: str = _field("fashion-mnist", "data", "data set", pack=DATA)
    data_dir: str | None = _field(
        None,
        "data",
        "folder holding the data set's files (default: the data set's own folder)",
        identity=False,
        pack=DATA,
    )
    download: bool = _field(
        False,
        "data",
        "download with torchvision when the files are missing (needs network)",
        identity=False,
        pack=DATA,
    )
    subset: float = _field(
        1.0,
        "data",
        "train on this seeded, uniformly random fraction of the training set (paper Table 2)",
        pack=Shared("equal training-set sizes give every run the same batches per step"),
    )
    holdout: float = _field(
        0.0,
        "data",
        "hold out this seeded, class-stratified fraction of the training set (after --subset): "
        "never trained on, evaluated every epoch (holdout_acc) for selection",
        pack=Shared("equal training-set sizes give every run the same batches per step"),
    )
    val_start: float = _field(
        0.0,
        "data",
        "evaluate the validation (test) split only in epochs past this fraction of training: "
        "0.9 keeps the paper's mean metric (last 10%) and saves the evaluations before",
        pack=Shared("the runs are evaluated in the same epochs"),
    )
    # --- model (rsmooth/models) ---
    model: str = _field(
        "resnet20", "model", "model architecture", pack=Shared("one architecture is packed")
    )
    # --- schedule ---
    epochs: int | None = _field(
        None,
        "schedule",
        "epochs (default: the paper's per data set: Fashion-MNIST 48, CIFAR 160, SVHN 100)",
        pack=Shared("the runs step in lockstep"),
    )
    batch_size: int = _field(
        128,
        "schedule",
        "training batch size (paper: 128)",
        pack=Shared("the runs step in lockstep on equal batches"),
    )
    lr: float | None = _field(
        None,
        "schedule",
        "initial lr (default: the optimizer's: sgd 0.1, adam/adamw/adan 1e-3, adagrad 1e-2)",
        pack=SCHEDULE,
    )
    lr_schedule: str = _field(
        "step", "schedule", "learning-rate schedule (paper: step)", pack=SCHEDULE
    )
    lr_drop_at: float = _field(
        0.75,
        "schedule",
        "step schedule: fraction of training at which the lr drops (paper: 0.75)",
        pack=SCHEDULE,
    )
    lr_drop_factor: float = _field(
        0.01,
        "schedule",
        "step schedule: lr multiplier after the drop (paper: 0.1 -> 0.001, i.e. 0.01)",
        pack=SCHEDULE,
    )
    # --- optimizer (rsmooth/methods/optimizers.py) ---
    optimizer: str = _field("sgd", "optimizer", "optimizer", pack=OPTIMIZER)
    momentum: float = _field(0.9, "optimizer", "SGD momentum (paper: 0.9)", pack=OPTIMIZER)
    nesterov: bool = _field(False, "optimizer", "SGD with Nesterov momentum", pack=OPTIMIZER)
    weight_decay: float | None = _field(
        None,
        "optimizer",
        "weight decay (default: 1e-4 CIFAR/SVHN, 1e-3 Fashion-MNIST; adamw 1e-2, adan 0.02)",
        short="wd",
        pack=OPTIMIZER,
    )
    # --- loss (rsmooth/methods/losses.py) ---
    loss: str = _field("mse", "loss", "base loss (paper: mse, on softmax outputs)", pack=OBJECTIVE)
    label_smoothing: float = _field(
        0.0,
        "loss",
        "label smoothing epsilon (paper Table 3: 0.1)",
        short="eps",
        pack=OBJECTIVE,
    )
    flood: float | None = _field(
        None,
        "loss",
        "flooding level b: train on |L - b| + b (Ishida et al. 2020)",
        pack=OBJECTIVE,
    )
    # --- residual smoothing (rsmooth/methods/smoothing.py); off unless anneal is set ---
    anneal: str | None = _field(
        None,
        "residual smoothing",
        "turn residual smoothing on with this s_t schedule",
        pack=SCHEDULE,
    )
    scheme: str | None = _field(
        None,
        "residual smoothing",
        "smoothing scheme: global (alpha 0), local (constant s0), global+local (default)",
        short="",
        pack=OBJECTIVE,
    )
    b: float = _field(
        0.5,
        "residual smoothing",
        "scale b of the annealing distribution (paper grid 0.1..0.9)",
        pack=SCHEDULE,
    )
    mu: float = _field(
        0.75,
        "residual smoothing",
        "peak of the annealing distribution, as a fraction of training (paper: 0.75)",
        label="changed",
        pack=SCHEDULE,
    )
    alpha: float | None = _field(
        None,
        "residual smoothing",
        "steepness alpha of the local sigmoid (default: 0 for global, else 1)",
        pack=OBJECTIVE,
    )
    s0: float = _field(
        1.0,
        "residual smoothing",
        "constant s of the local scheme (anneal constant)",
        pack=SCHEDULE,
    )
    detach_kappa: bool = _field(
        True,
        "residual smoothing",
        "treat kappa as fixed layer weights (no gradient through kappa)",
        short="kappa-grad",
        pack=Shared("the smoothing loss of a pack has one graph"),
    )
    layers: int = _field(
        1,
        "residual smoothing",
        "apply the smoothing layer W this many times",
        label="changed",
        pack=Shared("the smoothing loss of a pack applies W the same number of times"),
    )
    # --- gradient transform (rsmooth/methods/transforms.py) ---
    grad_transform: str = _field(
        "none",
        "gradient transform",
        "gradient transform between backward and the optimizer",
        pack=TRANSFORM,
    )
    # --- step rule (rsmooth/methods/step_rules.py) ---
    step_rule: str = _field(
        "plain",
        "step rule",
        "how one step's gradient is computed",
        pack=Shared("one pack runs one step rule's passes"),
    )
    rho: float = _field(0.05, "step rule", "SAM radius rho", pack=STEP_RULE)
    gr_gamma: float = _field(
        0.01, "step rule", "gradient-regularization strength gamma", short="γ", pack=STEP_RULE
    )
    gr_eps: float = _field(
        0.01,
        "step rule",
        "finite-difference step eps of gr-forward / gr-backward",
        short="ε",
        pack=STEP_RULE,
    )
    gr_normalize: bool = _field(
        False,
        "step rule",
        "finite-difference step eps/||g|| instead of eps",
        short="normalized",
        pack=STEP_RULE,
    )
    # --- engine ---
    seed: int = _field(
        0, "engine", "random seed (model init, data order, augmentation, subset)", pack=SEED
    )
    device: str = _field(
        "auto",
        "engine",
        "device: auto, cpu, cuda",
        identity=False,
        pack=Shared("one model lives on one device"),
    )
    precision: str = _field(
        "auto",
        "engine",
        "precision: auto (bf16 on cuda and on CPUs with native bf16, else fp32), fp32, bf16",
        identity=False,
        pack=Shared("one forward pass runs at one precision"),
    )
    channels_last: bool | None = _field(
        None,
        "engine",
        "channels_last memory format (default: on; measured faster on cuda and cpu)",
        identity=False,
        pack=Shared("one forward pass has one memory format"),
    )
    compile: bool = _field(
        False,
        "engine",
        "torch.compile the model",
        identity=False,
        pack=Shared("one model is compiled or not"),
    )
    deterministic: bool = _field(
        False,
        "engine",
        "deterministic kernels (cuDNN autotuning off, torch.use_deterministic_algorithms): GPU "
        "runs repeat bit for bit; CPU runs already do, there it is only recorded",
        identity=False,
        pack=Shared("one process runs one set of kernels"),
    )
    cuda_graphs: bool = _field(
        False,
        "engine",
        "capture each training step as a CUDA graph and replay it (launch-bound steps; a CUDA "
        "device only; the optimizer runs its fused kernels with a device learning rate)",
        identity=False,
        pack=Shared("one pack is one captured step"),
    )
    eval_batch_size: int = _field(
        1000,
        "engine",
        "validation batch size",
        identity=False,
        pack=Shared("the runs are evaluated on the same batches"),
    )
    num_threads: int | None = _field(
        None,
        "engine",
        "CPU threads for this run (sweeps split the cores)",
        identity=False,
        pack=Shared("one process has one thread count"),
    )
    # Modules of the user's own parts (rsmooth.plugins), imported before the rest of a config is
    # read: config.yaml names them, so every process that reads it knows their parts and fields.
    plugins: tuple[str, ...] = _field(
        (),
        "plugins",
        "modules of your own parts, imported before the config is read (--plugin, plugins:)",
        identity=False,
        pack=Shared("every run of a pack imports the same modules"),
    )
    # Fields declared by plugin parts (declare_field), as sorted (name, value) pairs; config.yaml
    # writes them as top-level keys like every other field.
    extra: tuple[tuple[str, Any], ...] = dataclasses.field(
        default=(),
        metadata={
            "group": "plugins",
            "help": "",
            "identity": True,
            "short": None,
            "label": "",
            "pack": PerRun("the part that declares each field"),
        },
    )

    # ------------------------------------------------------------------
    @property
    def smoothing(self) -> bool:
        return self.anneal is not None

    def get(self, name: str) -> Any:
        """The value of a field, or of a plugin's declared field (its default when unset)."""
        if name in _BUILTIN_NAMES:
            return getattr(self, name)
        if name not in EXTRA_FIELDS:
            raise ConfigError("config key", name, field_names())
        return dict(self.extra).get(name, EXTRA_FIELDS[name].default)

    def replace(self, **changes: Any) -> RunConfig:
        extra = {k: changes.pop(k) for k in list(changes) if k in EXTRA_FIELDS}
        if extra:
            changes["extra"] = _extra_pairs({**dict(self.extra), **extra})
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field by name: what config.yaml holds. A field a part declares (a plugin's)
        is a top-level key where the run sets it away from its default; at its default it is
        left out, so a process that never loaded that part can still read the config."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        values["plugins"] = list(self.plugins)  # YAML and JSON have lists, not tuples
        values.update(dict(self.extra))
        return values

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def field_names(cls) -> list[str]:
        return field_names()

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Build from YAML-like values, coercing types; unknown keys fail with the valid ones.

        A plugin's fields are keys here once its module is imported: ``rsmooth.parts.
        config_from_dict`` imports the plugins the values name first."""
        coerced: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name in _BUILTIN_NAMES:
                coerced[name] = coerce(name, value)
            elif name in EXTRA_FIELDS:
                extra[name] = coerce(name, value)
            else:
                raise UnknownKeyError(str(key), field_names())
        return cls(**coerced, extra=_extra_pairs(extra))

    def check_fields(self) -> None:
        """The schema's own rules: every field in its range, whichever parts the run uses
        (the parts check their own rules: rsmooth.parts.resolve)."""
        check_choice("device", self.device, DEVICES)
        check_choice("precision", self.precision, PRECISIONS)
        self._validate()

    def _validate(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("eval_batch_size", self.eval_batch_size)
        check_positive_int("layers", self.layers)
        if self.num_threads is not None:
            check_positive_int("num_threads", self.num_threads)
        # torch.manual_seed takes 64-bit seeds; data and init seeds are derived from it.
        check_int_in_range("seed", self.seed, 0, MAX_SEED)
        check_in_range("subset", self.subset, 0.0, 1.0, low_open=True)
        check_in_range("holdout", self.holdout, 0.0, 1.0, high_open=True)
        check_in_range("val_start", self.val_start, 0.0, 1.0, high_open=True)
        check_positive("lr", self.lr)
        check_in_range("lr_drop_at", self.lr_drop_at, 0.0, 1.0)
        check_in_range("lr_drop_factor", self.lr_drop_factor, 0.0, 1.0, low_open=True)
        check_in_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        # An infinite weight decay, flood level or penalty can only diverge: finite values only.
        check_finite_at_least("weight_decay", self.weight_decay, 0.0)
        check_in_range("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        if self.flood is not None:
            check_finite_at_least("flood", self.flood, 0.0)
        check_positive("rho", self.rho)
        check_finite_at_least("gr_gamma", self.gr_gamma, 0.0)
        check_positive("gr_eps", self.gr_eps)
        for name, value in self.extra:
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(name, value, "a finite number")


MAX_SEED = 2**63 - 1


# ----------------------------------------------------------------------
# Fields declared by plugin parts: a part that needs a hyperparameter RunConfig does not have
# declares it where it registers (rsmooth.registry), and every flag, recipe key, config.yaml
# key and configuration identity then knows it, as if it were a field of the dataclass.
@dataclass(frozen=True)
class ConfigField:
    name: str
    type: type  # bool, int, float or str
    default: Any
    help: str = ""
    group: str = "plugins"
    short: str | None = None  # the name a method label uses
    # How a pack treats it (Shared, PerRun); None: undeclared, so runs that differ in it are
    # never packed together (rsmooth/engine/packing.py).
    pack: Packing | None = None


EXTRA_FIELDS: dict[str, ConfigField] = {}
_BUILTIN_NAMES = tuple(f.name for f in fields(RunConfig) if f.name != "extra")


def declare_field(spec: ConfigField) -> None:
    """Add a config field (from a part's registration); declaring it again identically is a
    no-op (a module imported twice), differently is an error."""
    if spec.name in _BUILTIN_NAMES:
        raise ValueError(f"config field {spec.name!r} exists already")
    if spec.type not in (bool, int, float, str):
        raise TypeError(f"config field {spec.name!r}: type must be bool, int, float or str")
    known = EXTRA_FIELDS.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"config field {spec.name!r} is declared twice, differently")
    EXTRA_FIELDS[spec.name] = spec


def field_names() -> list[str]:
    """Every config field: the dataclass's, then the plugins' declared ones."""
    return [*_BUILTIN_NAMES, *sorted(EXTRA_FIELDS)]


def field_info(name: str) -> dict[str, Any]:
    """group, help, identity and short name of a field (built-in or declared)."""
    if name in EXTRA_FIELDS:
        spec = EXTRA_FIELDS[name]
        return {
            "group": spec.group,
            "help": spec.help,
            "identity": True,
            "short": spec.short,
            "label": "always",
        }
    return dict(_METADATA[name])


def field_packing(name: str) -> Packing | None:
    """How a pack treats field ``name`` (None: it declares nothing, so it cannot vary in a
    pack)."""
    if name in EXTRA_FIELDS:
        return EXTRA_FIELDS[name].pack
    return _METADATA[name]["pack"]


_METADATA = {f.name: f.metadata for f in fields(RunConfig)}
_FIELD_TYPES = typing.get_type_hints(RunConfig)
# Fields that say where or how fast a run computes, not what: runs that differ only in these
# (and the seed) are trials of one configuration, and a sweep may resume them anywhere.
ENGINE_FIELDS = tuple(name for name in _BUILTIN_NAMES if not _METADATA[name]["identity"])


def _extra_pairs(values: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Plugin field values as sorted pairs, defaults left out (so configs compare equal)."""
    return tuple(sorted((k, v) for k, v in values.items() if v != EXTRA_FIELDS[k].default))


class UnknownKeyError(ConfigError):
    """A key that is no config field, with a suggestion when one is close."""

    def __init__(self, key: str, names: list[str]) -> None:
        close = difflib.get_close_matches(key.replace("-", "_"), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        super().__init__("config key", key, f"{hint}a field of `rsmooth train --help`")


# ----------------------------------------------------------------------
# libyaml's parser where PyYAML was built with it (the wheels are): 15x faster, which `report`
# feels when it reads the config.yaml of a thousand runs.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """YAML's safe loader, refusing a key repeated in one mapping (YAML lets the last one win
    silently: a second ``grid:`` would replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, what: str) -> Any:
    """The YAML document in ``path``, or a ConfigError naming the file (and line) that says why:
    missing, unreadable, not UTF-8, not YAML, or a duplicate key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(what, str(path), "an existing YAML file")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(what, str(path), f"a readable file ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(what, str(path), f"UTF-8 text (byte {err.start} is not)") from None
    try:
        return yaml.load(text, Loader=StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "parse error"
        raise ConfigError(what, str(path), f"valid YAML ({problem}{where})") from None


def load_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    values = read_yaml(path, what)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(what, str(path), "a YAML mapping of field: value")
    return values


def field_type(name: str) -> tuple[type, bool]:
    """(base type, optional) of a field, built-in or declared by a plugin."""
    if name in EXTRA_FIELDS:
        return EXTRA_FIELDS[name].type, False
    hint = _FIELD_TYPES[name]
    if typing.get_origin(hint) is tuple:
        return tuple, False  # a list of names (plugins)
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    return base, optional


def coerce(name: str, value: Any) -> Any:
    """Coerce a YAML/CLI value to the field's type, or fail naming the field."""
    base, optional = field_type(name)
    if base is tuple:
        return () if value is None else _names(name, value)
    # "none"/"null" spell null on the command line, except for string fields ("none" is a name)
    spelled_null = isinstance(value, str) and value.lower() in ("none", "null") and base is not str
    if value is None or spelled_null:
        if optional:
            return None
        raise ConfigError(name, value, f"a {base.__name__}, not null")
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(name, value, "true or false")
    if base is int:
        return _as_int(name, value)
    if base is float:
        if isinstance(value, bool):
            raise ConfigError(name, value, "a number")
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(name, value, "a number") from None
    if base is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(name, value, "a string")
        return str(value)
    raise TypeError(f"unsupported field type {base}")  # pragma: no cover


def _names(name: str, value: Any) -> tuple[str, ...]:
    """A list of module names (a single name is a list of one), in order, each once."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(
        isinstance(v, str) and v.strip() for v in items
    ):
        raise ConfigError(name, value, "a list of module names, e.g. [mypackage.parts]")
    return tuple(dict.fromkeys(v.strip() for v in items))


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise ConfigError(name, value, "an integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())  # exact for large integers, unlike float()
    except ValueError:
        pass
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise ConfigError(name, value, "an integer") from None
    if not math.isfinite(as_float) or not as_float.is_integer():
        raise ConfigError(name, value, "an integer")
    return int(as_float)


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, value, allowed)


def check_positive_int(name: str, value: int | None) -> None:
    if value is None or value < 1:
        raise ConfigError(name, value, "an integer >= 1")


def check_int_in_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigError(name, value, f"an integer in [{low}, {high}]")


def check_finite_at_least(name: str, value: float | None, low: float) -> None:
    if value is None or not math.isfinite(value) or value < low:
        raise ConfigError(name, value, f"a finite number >= {low:g}")


def check_positive(name: str, value: float | None) -> None:
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(name, value, "a finite number > 0")


def check_in_range(
    name: str,
    value: float | None,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = value is not None and not math.isnan(value)
    if value is not None and ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(name, value, f"a number in {lo}{low:g}, {high:g}{hi}")
