"""``rsmooth train``: one flag per config field (generated from RunConfig and the fields parts
declare, so the CLI, the YAML configs and the run folders can never disagree), plus --config,
--out, --resume and --quiet."""

from __future__ import annotations

import inspect
import time
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from rsmooth.cli.app import app
from rsmooth.cli.paths import check_output_dir
from rsmooth.config import RunConfig, field_info, field_names, field_type
from rsmooth.errors import EXIT_DIVERGED, EXIT_FAILED, RsmoothError
from rsmooth.interrupt import Interrupted
from rsmooth.parts import config_from_dict, config_from_yaml
from rsmooth.plugins import merge_names
from rsmooth.registry import REGISTRIES
from rsmooth.runfolder import CONFIG


def config_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _config_parameters() -> list[inspect.Parameter]:
    """An optional Typer option per config field; None means 'not given on the command line'.

    A field that selects a part lists the registered names (when the parts are loaded: `main`
    loads them, and the plugins, before it builds `train`)."""
    defaults = RunConfig().to_dict()
    params = []
    for name in field_names():
        if name == "plugins":
            continue  # set by --plugin (repeatable), which `main` reads before building `train`
        base, _ = field_type(name)
        info = field_info(name)
        flag = config_flag(name)
        decls = [f"{flag}/--no-{flag[2:]}"] if base is bool else [flag]
        text = info["help"]
        registry = REGISTRIES.get(name)
        if registry is not None and len(registry):
            text += f": {', '.join(registry.names())}"
        default = defaults.get(name)
        option = typer.Option(
            *decls,
            help=text,
            rich_help_panel=info["group"].capitalize(),
            show_default=str(default).lower() if isinstance(default, bool) else str(default),
        )
        if default is None:
            option.show_default = False
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[base | None, option],
            )
        )
    return params


def build_config(config_file: Path | None, flags: dict[str, Any]) -> RunConfig:
    """YAML file (if any), then flags on top; values are validated later by resolve()."""
    given = {k: v for k, v in flags.items() if v is not None}
    if config_file is not None:
        return config_from_yaml(config_file, **given)
    return config_from_dict(given)


def default_out(cfg: RunConfig) -> Path:
    method = cfg.anneal or cfg.optimizer
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}_{cfg.data}_{cfg.model}_{method}_seed{cfg.seed}"


def train(
    config: Annotated[
        Path | None, typer.Option(help="YAML file of config fields; flags override it.")
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(help="Run folder to create.", show_default="runs/TIME_DATA_MODEL_METHOD_SEED"),
    ] = None,
    resume: Annotated[
        list[Path] | None,
        typer.Option(
            help="Continue the run in this folder (its own config); repeated, the runs train "
            "together as one pack (rsmooth sweep --pack does this)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    plugin: Annotated[
        list[str] | None,
        typer.Option(
            metavar="MODULE",
            help="Import this module of your own parts first (repeatable); its config fields "
            "are flags here. Recorded in config.yaml: --resume imports it again.",
        ),
    ] = None,
    **fields: Any,
) -> None:
    """Train one model into a run folder (config, per-epoch metrics, summary, checkpoints).

    Without --anneal the run is the baseline; --anneal turns residual smoothing on.
    Exit codes: 0 completed, 2 invalid input (nothing written), 3 diverged, 4 failed after it
    started (continue with --resume), 130 interrupted (continue with --resume).
    """
    from rsmooth.engine import train_runs

    cfgs: list[RunConfig | None] = [None]  # with --resume: each run's own config.yaml
    if resume:
        if config is not None or out is not None or any(v is not None for v in fields.values()):
            raise RsmoothError("--resume takes no other flags: the run's own config.yaml is used")
        # --plugin is allowed: a run of an older rsmooth may use parts its config.yaml does not
        # name; `main` imported them already.
        folders = list(resume)
        cfgs = [None] * len(folders)
    else:
        cfg = build_config(config, fields)
        cfg = cfg.replace(plugins=merge_names(plugin or (), cfg.plugins))  # as imported
        cfgs = [cfg]
        folders = [check_output_dir(out, "--out") if out is not None else default_out(cfg)]
    try:
        summaries = train_runs(cfgs, folders, resume=bool(resume), quiet=quiet)
    except KeyboardInterrupt:
        raise _interrupted(folders) from None
    statuses = [s.get("status") for s in summaries]
    if not quiet:
        for folder, summary in zip(folders, summaries, strict=True):
            best = summary.get("max_val_acc")
            best_text = f", max val acc {best:.2f}%" if best is not None else ""
            typer.echo(f"{summary.get('status')}: {folder}{best_text}", err=True)
    if "diverged" in statuses:
        raise typer.Exit(EXIT_DIVERGED)
    if any(status != "completed" for status in statuses):
        raise typer.Exit(EXIT_FAILED)


def _interrupted(folders: list[Path]) -> Interrupted:
    """The stop, with how to go on: once the run folders hold their configs, the same command
    would refuse them (they exist), so the way on is --resume; before that, nothing was
    written."""
    started = [f for f in folders if (f / CONFIG).is_file()]
    if started:
        return Interrupted("rsmooth train " + " ".join(f"--resume {f}" for f in started))
    return Interrupted()


def _register() -> None:
    """`train` with its own options followed by one option per config field."""
    hints = typing.get_type_hints(train, include_extras=True)
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[p.name])
        for p in inspect.signature(train).parameters.values()
        if p.kind != inspect.Parameter.VAR_KEYWORD
    ]
    params = own + _config_parameters()
    train.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    train.__annotations__ = {p.name: p.annotation for p in params}
    app.command(context_settings={"max_content_width": 120})(train)


_register()
