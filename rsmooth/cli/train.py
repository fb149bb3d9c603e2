"""``rsmooth train``: one flag per RunConfig field (generated from the dataclass, so the CLI,
the YAML configs and the run folders can never disagree), plus --config, --out, --resume."""

from __future__ import annotations

import dataclasses
import inspect
import time
import typing
from pathlib import Path
from typing import Any, Optional

import typer

from rsmooth.cli.app import app, user_errors
from rsmooth.config import RunConfig
from rsmooth.errors import EXIT_DIVERGED, EXIT_FAILED, RsmoothError


def config_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _config_parameters() -> list[inspect.Parameter]:
    """An Optional Typer option per RunConfig field; None means 'not given on the command line'."""
    hints = typing.get_type_hints(RunConfig)
    params = []
    for field in dataclasses.fields(RunConfig):
        args = [a for a in typing.get_args(hints[field.name]) if a is not type(None)]
        base = args[0] if args else hints[field.name]
        flag = config_flag(field.name)
        decls = [f"{flag}/--no-{flag[2:]}"] if base is bool else [flag]
        default = field.default
        shown = "" if default is None else f" (default: {default})"
        option = typer.Option(
            None,
            *decls,
            help=field.metadata["help"] + shown,
            rich_help_panel=field.metadata["group"].capitalize(),
            show_default=False,
        )
        params.append(
            inspect.Parameter(
                field.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=option,
                annotation=Optional[base],  # noqa: UP045  (Typer reads the runtime annotation)
            )
        )
    return params


def build_config(config_file: Path | None, flags: dict[str, Any]) -> RunConfig:
    """YAML file (if any), then flags on top; values are validated later by resolve()."""
    given = {k: v for k, v in flags.items() if v is not None}
    if config_file is not None:
        return RunConfig.from_yaml(config_file, **given)
    return RunConfig.from_dict(given)


def default_out(cfg: RunConfig) -> Path:
    method = cfg.anneal or cfg.optimizer
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}_{cfg.data}_{cfg.model}_{method}_seed{cfg.seed}"


def train(**kwargs: Any) -> None:
    """Train one model into a run folder (config, per-epoch metrics, summary, checkpoint).

    Without --anneal the run is the baseline; --anneal laplace|logistic|constant turns
    residual smoothing on. Exit codes: 0 completed, 2 invalid input (nothing written),
    3 diverged, 4 failed.
    """
    from rsmooth.engine import train_run

    config_file = kwargs.pop("config")
    out = kwargs.pop("out")
    resume = kwargs.pop("resume")
    quiet = kwargs.pop("quiet")
    with user_errors():
        if resume is not None:
            if config_file is not None or any(v is not None for v in kwargs.values()):
                raise RsmoothError(
                    "--resume takes no other config flags: the run's config.yaml is used"
                )
            summary = train_run(None, resume, resume=True, quiet=quiet)
            out = resume
        else:
            cfg = build_config(config_file, kwargs)
            out = out or default_out(cfg)
            summary = train_run(cfg, out, quiet=quiet)
    status = summary["status"]
    if not quiet:
        best = summary.get("max_val_acc")
        best_text = f", max val acc {best:.2f}%" if best is not None else ""
        typer.echo(f"{status}: {out}{best_text}", err=True)
    if status == "diverged":
        raise typer.Exit(EXIT_DIVERGED)
    if status != "completed":
        raise typer.Exit(EXIT_FAILED)


_extra = [
    inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Optional[Path],  # noqa: UP045
        default=typer.Option(
            None, "--config", help="YAML file of config fields; flags override it"
        ),
    ),
    inspect.Parameter(
        "out",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Optional[Path],  # noqa: UP045
        default=typer.Option(None, "--out", help="run folder to create [default: runs/<time>_...]"),
    ),
    inspect.Parameter(
        "resume",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Optional[Path],  # noqa: UP045
        default=typer.Option(None, "--resume", help="continue the run in this folder"),
    ),
    inspect.Parameter(
        "quiet",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=bool,
        default=typer.Option(False, "--quiet", "-q", help="no progress display"),
    ),
]
_params = _config_parameters() + _extra
train.__signature__ = inspect.Signature(_params)  # type: ignore[attr-defined]
train.__annotations__ = {p.name: p.annotation for p in _params}
app.command(context_settings={"max_content_width": 120})(train)
