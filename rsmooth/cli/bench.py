"""``rsmooth bench``: step cost of every method against SGD, and of the engine against a plain
PyTorch loop, on the current device. Markdown on stdout, JSON with --json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rsmooth.cli.app import app
from rsmooth.cli.paths import check_output_file

# The options, named once here so that the command below reads as its list of flags.
Model = Annotated[str, typer.Option(help="Model to time.")]
Data = Annotated[str, typer.Option(help="Data shape to time (synthetic images).")]
BatchSize = Annotated[int, typer.Option(help="Training batch size.")]
Methods = Annotated[
    str | None,
    typer.Option(help="Comma-separated methods (see the table).", show_default="all"),
]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Precision = Annotated[str, typer.Option(help="Engine precision: auto, fp32, bf16.")]
ChannelsLast = Annotated[
    bool | None,
    typer.Option(
        "--channels-last/--no-channels-last", help="Engine memory format.", show_default="auto"
    ),
]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the model.")]
Deterministic = Annotated[
    bool,
    typer.Option(
        "--deterministic", help="Deterministic kernels (no cuDNN autotuning): their cost."
    ),
]
CudaGraphs = Annotated[
    bool,
    typer.Option("--cuda-graphs", help="Each step captured as a CUDA graph and replayed."),
]
Steps = Annotated[
    int | None, typer.Option(help="Training steps per timed block.", show_default="cpu 3, cuda 20")
]
Rounds = Annotated[
    int | None,
    typer.Option(help="Timed blocks per contender, alternating.", show_default="cpu 5, cuda 9"),
]
Warmup = Annotated[int, typer.Option(help="Untimed blocks per contender first.")]
SkipEngine = Annotated[
    bool, typer.Option("--skip-engine", help="Skip the engine vs plain-loop table.")
]
SkipMethods = Annotated[bool, typer.Option("--skip-methods", help="Skip the method table.")]
Pack = Annotated[
    str | None,
    typer.Option(
        help="Also time K runs packed into one model against K separate runs, e.g. 4 or 1,4,16,64."
    ),
]
JsonOut = Annotated[
    str | None, typer.Option("--json", help="Also write the results as JSON to this file.")
]


@app.command()
def bench(
    model: Model = "resnet20",
    data: Data = "fashion-mnist",
    batch_size: BatchSize = 128,
    methods: Methods = None,
    device: Device = "auto",
    precision: Precision = "auto",
    channels_last: ChannelsLast = None,
    compile: Compile = False,
    deterministic: Deterministic = False,
    cuda_graphs: CudaGraphs = False,
    steps: Steps = None,
    rounds: Rounds = None,
    warmup: Warmup = 1,
    skip_engine: SkipEngine = False,
    skip_methods: SkipMethods = False,
    pack: Pack = None,
    json_out: JsonOut = None,
) -> None:
    """Step time of every method against SGD, and of the engine against a plain PyTorch loop.

    Median step time, images/s, peak memory and the ratio to SGD, measured in one process,
    alternating, after warm-up; the plain loop is torchvision + DataLoader + eager fp32.
    Every flag is checked before anything is timed.
    """
    from rsmooth.bench import BenchSettings, run_bench
    from rsmooth.config import RunConfig
    from rsmooth.parts import resolve

    json_path = check_output_file(json_out, "--json") if json_out is not None else None
    base = resolve(
        RunConfig(
            model=model,
            data=data,
            batch_size=batch_size,
            device=device,
            precision=precision,
            channels_last=channels_last,
            compile=compile,
            deterministic=deterministic,
            cuda_graphs=cuda_graphs,
            epochs=1,
        )
    )
    settings = BenchSettings.checked(
        base,
        methods=None if methods is None else [m.strip() for m in methods.split(",")],
        steps=steps,
        rounds=rounds,
        warmup=warmup,
        engine=not skip_engine,
        methods_table=not skip_methods,
        packs=_pack_sizes(pack),
    )
    result = run_bench(base, settings, progress=lambda text: typer.echo(text, err=True))
    typer.echo(result["markdown"])
    if json_path is not None:
        _write_json(json_path, result)


def _write_json(path: Path, result: dict[str, Any]) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: v for k, v in result.items() if k != "markdown"}))
    typer.echo(f"JSON: {path}", err=True)


def _pack_sizes(text: str | None) -> tuple[int, ...]:
    from rsmooth.errors import ConfigError

    if text is None:
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError("pack", text, "integers separated by commas, e.g. 1,4,16") from None
