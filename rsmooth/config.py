"""RunConfig: the one frozen description of a training run.

The CLI flags and the YAML recipes build it; ``resolve()`` fills the per-dataset and
per-optimizer defaults (METHODS.md §2) and validates every field once, before any data
or GPU work; the resolved config is written verbatim to ``config.yaml`` in the run folder,
and is enough to repeat the run.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from rsmooth.errors import ConfigError

SCHEMES = ("global", "local", "global+local")
ANNEALS = ("laplace", "logistic", "constant")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


def _field(default: Any, group: str, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"group": group, "help": help})


@dataclass(frozen=True)
class RunConfig:
    # --- data (rsmooth/data) ---
    data: str = _field("fashion-mnist", "data", "data set: fashion-mnist, cifar10, cifar100, svhn")
    data_dir: str | None = _field(
        None, "data", "folder holding the data set's files (default: the data set's own folder)"
    )
    download: bool = _field(
        False, "data", "download with torchvision when the files are missing (needs network)"
    )
    subset: float = _field(
        1.0,
        "data",
        "train on this seeded, uniformly random fraction of the training set (paper Table 2)",
    )
    holdout: float = _field(
        0.0,
        "data",
        "hold out this seeded, class-stratified fraction of the training set (after --subset): "
        "never trained on, evaluated every epoch (holdout_acc) for selection",
    )
    # --- model (rsmooth/models) ---
    model: str = _field("resnet20", "model", "model: resnet20/32/44/56/110, densenet-bc-100")
    # --- schedule ---
    epochs: int | None = _field(
        None,
        "schedule",
        "epochs (default: the paper's per data set: Fashion-MNIST 48, CIFAR 160, SVHN 100)",
    )
    batch_size: int = _field(128, "schedule", "training batch size (paper: 128)")
    lr: float | None = _field(
        None,
        "schedule",
        "initial lr (default: the optimizer's: sgd 0.1, adam/adamw/adan 1e-3, adagrad 1e-2)",
    )
    lr_schedule: str = _field(
        "step", "schedule", "learning-rate schedule: step (paper), cosine, constant"
    )
    lr_drop_at: float = _field(
        0.75, "schedule", "step schedule: fraction of training at which the lr drops (paper: 0.75)"
    )
    lr_drop_factor: float = _field(
        0.01,
        "schedule",
        "step schedule: lr multiplier after the drop (paper: 0.1 -> 0.001, i.e. 0.01)",
    )
    # --- optimizer (rsmooth/methods/optimizers.py) ---
    optimizer: str = _field("sgd", "optimizer", "optimizer: sgd, adam, adagrad, adamw, adan")
    momentum: float = _field(0.9, "optimizer", "SGD momentum (paper: 0.9)")
    nesterov: bool = _field(False, "optimizer", "SGD with Nesterov momentum")
    weight_decay: float | None = _field(
        None,
        "optimizer",
        "weight decay (default: 1e-4 CIFAR/SVHN, 1e-3 Fashion-MNIST; adamw 1e-2, adan 0.02)",
    )
    # --- loss (rsmooth/methods/losses.py) ---
    loss: str = _field("mse", "loss", "base loss: mse (the paper's, on softmax outputs) or ce")
    label_smoothing: float = _field(0.0, "loss", "label smoothing epsilon (paper Table 3: 0.1)")
    flood: float | None = _field(
        None, "loss", "flooding level b: train on |L - b| + b (Ishida et al. 2020)"
    )
    # --- residual smoothing (rsmooth/methods/smoothing.py); off unless anneal is set ---
    anneal: str | None = _field(
        None,
        "residual smoothing",
        "turn residual smoothing on with this s_t schedule: laplace, logistic, constant",
    )
    scheme: str | None = _field(
        None,
        "residual smoothing",
        "smoothing scheme: global (alpha 0), local (constant s0), global+local (default)",
    )
    b: float = _field(
        0.5, "residual smoothing", "scale b of the annealing distribution (paper grid 0.1..0.9)"
    )
    mu: float = _field(
        0.75,
        "residual smoothing",
        "peak of the annealing distribution, as a fraction of training (paper: 0.75)",
    )
    alpha: float | None = _field(
        None,
        "residual smoothing",
        "steepness alpha of the local sigmoid (default: 0 for global, else 1)",
    )
    s0: float = _field(
        1.0, "residual smoothing", "constant s of the local scheme (anneal constant)"
    )
    detach_kappa: bool = _field(
        True, "residual smoothing", "treat kappa as fixed layer weights (no gradient through kappa)"
    )
    layers: int = _field(1, "residual smoothing", "apply the smoothing layer W this many times")
    # --- gradient transform (rsmooth/methods/transforms.py) ---
    grad_transform: str = _field(
        "none", "gradient transform", "gradient transform before the optimizer: none, agr"
    )
    # --- step rule (rsmooth/methods/step_rules.py) ---
    step_rule: str = _field(
        "plain", "step rule", "step rule: plain, sam, gr-db, gr-forward, gr-backward"
    )
    rho: float = _field(0.05, "step rule", "SAM radius rho")
    gr_gamma: float = _field(0.01, "step rule", "gradient-regularization strength gamma")
    gr_eps: float = _field(
        0.01, "step rule", "finite-difference step eps of gr-forward / gr-backward"
    )
    gr_normalize: bool = _field(
        False, "step rule", "finite-difference step eps/||g|| instead of eps"
    )
    # --- engine ---
    seed: int = _field(0, "engine", "random seed (model init, data order, augmentation, subset)")
    device: str = _field("auto", "engine", "device: auto, cpu, cuda")
    precision: str = _field(
        "auto",
        "engine",
        "precision: auto (bf16 on cuda and on CPUs with native bf16, else fp32), fp32, bf16",
    )
    channels_last: bool | None = _field(
        None, "engine", "channels_last memory format (default: on; measured faster on cuda and cpu)"
    )
    compile: bool = _field(False, "engine", "torch.compile the model")
    eval_batch_size: int = _field(1000, "engine", "validation batch size")
    num_threads: int | None = _field(
        None, "engine", "CPU threads for this run (sweeps split the cores)"
    )

    # ------------------------------------------------------------------
    @property
    def smoothing(self) -> bool:
        return self.anneal is not None

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """Build from YAML-like values, coercing types; unknown keys fail with the valid ones."""
        names = cls.field_names()
        coerced = {}
        for key, value in values.items():
            key_ = str(key).replace("-", "_")
            if key_ not in names:
                raise ConfigError("config key", key, names)
            coerced[key_] = coerce(key_, value)
        return cls(**coerced)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> RunConfig:
        values = load_yaml_mapping(path, "config")
        values.update(overrides)
        return cls.from_dict(values)

    # ------------------------------------------------------------------
    def resolve(self) -> RunConfig:
        """Fill defaults and validate every field; returns the config a run uses."""
        from rsmooth.data import DATASETS
        from rsmooth.methods import GRAD_TRANSFORMS, LOSSES, OPTIMIZERS, SCHEDULES, STEP_RULES
        from rsmooth.models import MODELS

        for field, registry in (
            ("data", DATASETS),
            ("model", MODELS),
            ("optimizer", OPTIMIZERS),
            ("loss", LOSSES),
            ("lr_schedule", SCHEDULES),
            ("grad_transform", GRAD_TRANSFORMS),
            ("step_rule", STEP_RULES),
        ):
            registry.check(getattr(self, field))
        _choice("device", self.device, DEVICES)
        _choice("precision", self.precision, PRECISIONS)

        dataset = DATASETS.get(self.data)
        optimizer = OPTIMIZERS.get(self.optimizer)
        changes: dict[str, Any] = {}
        if self.epochs is None:
            changes["epochs"] = dataset.default_epochs
        if self.lr is None:
            changes["lr"] = optimizer.default_lr
        if self.weight_decay is None:
            changes["weight_decay"] = (
                optimizer.default_weight_decay
                if optimizer.default_weight_decay is not None
                else dataset.default_weight_decay(self.smoothing)
            )
        if self.anneal is not None:
            _choice("anneal", self.anneal, ANNEALS)
            scheme = self.scheme or ("local" if self.anneal == "constant" else "global+local")
            _choice("scheme", scheme, SCHEMES)
            changes["scheme"] = scheme
            if self.alpha is None:
                changes["alpha"] = 0.0 if scheme == "global" else 1.0
        cfg = self.replace(**changes)
        cfg._validate()
        return cfg

    def _validate(self) -> None:
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_int("eval_batch_size", self.eval_batch_size)
        _positive_int("layers", self.layers)
        if self.num_threads is not None:
            _positive_int("num_threads", self.num_threads)
        _in_range("subset", self.subset, 0.0, 1.0, low_open=True)
        _in_range("holdout", self.holdout, 0.0, 1.0, high_open=True)
        _positive("lr", self.lr)
        _in_range("lr_drop_at", self.lr_drop_at, 0.0, 1.0)
        _in_range("lr_drop_factor", self.lr_drop_factor, 0.0, 1.0, low_open=True)
        _in_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _in_range("weight_decay", self.weight_decay, 0.0, math.inf)
        _in_range("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        if self.flood is not None:
            _in_range("flood", self.flood, 0.0, math.inf)
        _positive("rho", self.rho)
        _in_range("gr_gamma", self.gr_gamma, 0.0, math.inf)
        _positive("gr_eps", self.gr_eps)
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError("nesterov", True, "only with optimizer sgd and momentum > 0")
        if self.smoothing:
            _positive("b", self.b)
            _in_range("mu", self.mu, 0.0, 1.0)
            _in_range("alpha", self.alpha, 0.0, math.inf)
            _in_range("s0", self.s0, 0.0, 1.0)
            if self.loss != "mse":
                raise ConfigError("loss", self.loss, "mse when residual smoothing is on (--anneal)")
            if self.scheme == "global" and self.alpha != 0:
                raise ConfigError("alpha", self.alpha, "0 for scheme global (eq. 15)")
            if (self.scheme == "local") != (self.anneal == "constant"):
                raise ConfigError(
                    "scheme", self.scheme, "local exactly when anneal is constant (eq. 17)"
                )
        elif self.scheme is not None or self.alpha is not None:
            field = "scheme" if self.scheme is not None else "alpha"
            raise ConfigError(
                field, getattr(self, field), "only with residual smoothing (--anneal)"
            )
        if self.compile and self.step_rule == "gr-db":
            raise ConfigError(
                "compile", True, "false with step_rule gr-db (double backward is not compiled)"
            )


# ----------------------------------------------------------------------
def load_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(what, str(path), "an existing YAML file")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(what, str(path), f"valid YAML (parse error{where})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(what, str(path), "a YAML mapping of field: value")
    return values


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(RunConfig)


def coerce(name: str, value: Any) -> Any:
    """Coerce a YAML/CLI value to the field's type, or fail naming the field."""
    hint = _field_types()[name]
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
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
        if isinstance(value, bool):
            raise ConfigError(name, value, "an integer")
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise ConfigError(name, value, "an integer") from None
        if not as_float.is_integer():
            raise ConfigError(name, value, "an integer")
        return int(as_float)
    if base is float:
        if isinstance(value, bool):
            raise ConfigError(name, value, "a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(name, value, "a number") from None
    if base is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(name, value, "a string")
        return str(value)
    raise TypeError(f"unsupported field type {hint}")  # pragma: no cover


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, value, allowed)


def _positive_int(name: str, value: int | None) -> None:
    if value is None or value < 1:
        raise ConfigError(name, value, "an integer >= 1")


def _positive(name: str, value: float | None) -> None:
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(name, value, "a finite number > 0")


def _in_range(
    name: str,
    value: float | None,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = value is not None and not math.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(name, value, f"a number in {lo}{low:g}, {high:g}{hi}")
