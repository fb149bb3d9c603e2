"""``rsmooth bench``: step cost of every method against SGD, and the engine against a plain
PyTorch loop, on the current device. Markdown on stdout, JSON with --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from rsmooth.cli.app import app, user_errors


@app.command()
def bench(
    model: str = typer.Option("resnet20", help="model to time"),
    data: str = typer.Option("fashion-mnist", help="data shape to time (synthetic images)"),
    batch_size: int = typer.Option(128, help="training batch size"),
    methods: Optional[str] = typer.Option(  # noqa: UP045
        None, help="comma-separated methods (default: all); see the table for names"
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda"),
    precision: str = typer.Option("auto", help="engine precision: auto, fp32, bf16"),
    channels_last: Optional[bool] = typer.Option(  # noqa: UP045
        None, "--channels-last/--no-channels-last", help="engine memory format (default: auto)"
    ),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the engine's model"),
    steps: int = typer.Option(10, help="training steps per timed block"),
    rounds: int = typer.Option(9, help="timed blocks per contender (alternating)"),
    warmup: int = typer.Option(1, help="untimed blocks per contender first"),
    skip_engine: bool = typer.Option(False, "--skip-engine", help="skip engine vs plain loop"),
    skip_methods: bool = typer.Option(False, "--skip-methods", help="skip the method table"),
    json_out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--json", help="also write the results as JSON to this file"
    ),
) -> None:
    """Step time of every method against SGD, and of the engine against a plain PyTorch loop.

    Median step time, images/s, peak memory and the ratio to SGD, measured in one process,
    alternating, after warm-up; the plain loop is torchvision + DataLoader + eager fp32.
    """
    from rsmooth.bench import METHODS, run_bench
    from rsmooth.config import RunConfig
    from rsmooth.errors import ConfigError

    with user_errors():
        chosen = list(METHODS) if methods is None else [m.strip() for m in methods.split(",")]
        for name in chosen:
            if name not in METHODS:
                raise ConfigError("methods", name, list(METHODS))
        for name, value in (("steps", steps), ("rounds", rounds), ("batch_size", batch_size)):
            if value < 1:
                raise ConfigError(name, value, "an integer >= 1")
        base = RunConfig(
            model=model,
            data=data,
            batch_size=batch_size,
            device=device,
            precision=precision,
            channels_last=channels_last,
            compile=compile,
            epochs=1,
        ).resolve()
        result = run_bench(
            base,
            chosen,
            steps=steps,
            rounds=rounds,
            warmup=warmup,
            engine=not skip_engine,
            methods_table=not skip_methods,
        )
    typer.echo(result["markdown"])
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(
            json.dumps({k: v for k, v in result.items() if k != "markdown"}, indent=2)
        )
        typer.echo(f"JSON: {json_out}", err=True)
