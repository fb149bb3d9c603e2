"""What a configuration is: its identity (for grouping trials) and its readable method name.

A configuration is a run config without its seed and without the engine fields that do not
change the maths. Fields a method does not use (the smoothing scale b of an SGD run, the SAM
radius of a plain step, ...) are blanked, so runs that differ only there are one configuration
and the report never shows a column of values that had no effect.
"""

from __future__ import annotations

import json
from typing import Any

# Engine-only fields: how fast or where a run computes, not what it computes.
ENGINE_FIELDS = (
    "seed",
    "device",
    "precision",
    "channels_last",
    "compile",
    "num_threads",
    "eval_batch_size",
    "data_dir",
    "download",
)
SMOOTHING_FIELDS = ("scheme", "b", "mu", "alpha", "s0", "detach_kappa", "layers")
GR_FIELDS = ("gr_gamma", "gr_eps", "gr_normalize")
# The fields a method label spells out; the other config fields are the "setting".
METHOD_FIELDS = (
    "optimizer",
    "nesterov",
    "loss",
    "label_smoothing",
    "flood",
    "anneal",
    *SMOOTHING_FIELDS,
    "grad_transform",
    "step_rule",
    "rho",
    *GR_FIELDS,
)
DEFAULT_MU = 0.75


def normalize(config: dict[str, Any]) -> dict[str, Any]:
    """The config as a configuration: engine fields dropped, unused fields set to None."""
    cfg = {k: v for k, v in config.items() if k not in ENGINE_FIELDS}
    unused: list[str] = []
    if cfg.get("anneal") is None:
        unused += SMOOTHING_FIELDS
    elif cfg.get("anneal") == "constant":
        unused += ["b", "mu"]  # the local scheme's s_t is the constant s0 (eq. 17)
    else:
        unused += ["s0"]
    if cfg.get("step_rule") != "sam":
        unused += ["rho"]
    if not str(cfg.get("step_rule", "")).startswith("gr-"):
        unused += GR_FIELDS
    elif cfg.get("step_rule") == "gr-db":
        unused += ["gr_eps", "gr_normalize"]  # double backprop is exact: no finite difference
    if cfg.get("optimizer") != "sgd":
        unused += ["momentum", "nesterov"]
    if cfg.get("lr_schedule") != "step":
        unused += ["lr_drop_at", "lr_drop_factor"]
    for name in unused:
        if name in cfg:
            cfg[name] = None
    return cfg


def config_key(config: dict[str, Any]) -> str:
    """A hashable identity of the configuration (equal for the trials of one configuration)."""
    return json.dumps(normalize(config), sort_keys=True, default=str)


def fmt(value: Any) -> str:
    """A number as a short, exact-enough string (0.001 -> 0.001, 1e-05 -> 1e-05, 1.0 -> 1)."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def is_plain(config: dict[str, Any]) -> bool:
    """No regularizer on top of the optimizer: the baseline of the paper's tables."""
    return (
        not config.get("label_smoothing")
        and config.get("flood") is None
        and config.get("anneal") is None
        and config.get("grad_transform", "none") == "none"
        and config.get("step_rule", "plain") == "plain"
    )


def is_smoothing_only(config: dict[str, Any]) -> bool:
    """SGD with residual smoothing and no other regularizer: the paper's method (Tables 1-3)."""
    return (
        config.get("optimizer") == "sgd"
        and config.get("anneal") is not None
        and is_plain(dict(config, anneal=None))
    )


def method_label(config: dict[str, Any], values: bool = True) -> str:
    """A readable method name, e.g. ``sgd + smoothing global+local laplace b=0.5 alpha=1``.

    With ``values=False`` the grid values (b, alpha, rho, ...) are left out: the *kind* of
    method, which the plots use for their columns and legends.
    """

    def with_values(name: str, *pairs: tuple[str, Any]) -> str:
        shown = [f"{key}={fmt(v)}" for key, v in pairs if v is not None]
        return " ".join([name, *shown]) if values and shown else name

    optimizer = str(config.get("optimizer", "sgd"))
    if config.get("nesterov") and optimizer == "sgd":
        optimizer += "-nesterov"
    if config.get("grad_transform", "none") != "none":
        optimizer += f"+{config['grad_transform']}"
    parts = [optimizer]
    if config.get("loss", "mse") != "mse":
        parts[0] += f" ({config['loss']})"
    if config.get("label_smoothing"):
        parts.append(with_values("label-smoothing", ("eps", config["label_smoothing"])))
    anneal = config.get("anneal")
    if anneal is not None:
        scheme = config.get("scheme") or ""
        if anneal == "constant":
            name = f"smoothing {scheme}".strip()
            pairs: list[tuple[str, Any]] = [("s0", config.get("s0"))]
        else:
            name = f"smoothing {scheme} {anneal}".replace("  ", " ")
            pairs = [("b", config.get("b"))]
            if config.get("mu") is not None and config.get("mu") != DEFAULT_MU:
                pairs.append(("mu", config["mu"]))
        pairs.append(("alpha", config.get("alpha")))
        if config.get("layers") not in (None, 1):
            pairs.append(("layers", config["layers"]))
        if config.get("detach_kappa") is False:
            name += " kappa-grad"
        parts.append(with_values(name, *pairs))
    step_rule = config.get("step_rule", "plain")
    if step_rule == "sam":
        parts.append(with_values("sam", ("rho", config.get("rho"))))
    elif str(step_rule).startswith("gr-"):
        name = step_rule + (" normalized" if config.get("gr_normalize") else "")
        pairs = [("γ", config.get("gr_gamma"))]
        if step_rule != "gr-db":
            pairs.append(("ε", config.get("gr_eps")))
        parts.append(with_values(name, *pairs))
    elif step_rule != "plain":
        parts.append(str(step_rule))
    if config.get("flood") is not None:
        parts.append(f"flood={fmt(config['flood'])}" if values else "flood")
    return " + ".join(parts)


def method_kind(config: dict[str, Any]) -> str:
    """The method without its grid values: what one column of Figs. 5-6 shows."""
    return method_label(config, values=False)


def short_kind(kind: str) -> str:
    """A kind without the implied ``sgd + `` prefix: ``smoothing global+local laplace``."""
    return kind.removeprefix("sgd + ")
