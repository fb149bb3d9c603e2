"""rsmooth plot: every figure renders from fixture logs (PNG and PDF), numbers of the curves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from rsmooth.cli.plot import _configurations
from rsmooth.errors import RsmoothError
from rsmooth.methods.smoothing import anneal
from rsmooth.plot.curves import Curve, _chosen, _draw, curve, plot_curves
from rsmooth.plot.schedule import plot_schedule, sigmoid
from rsmooth.plot.style import ratio_name
from rsmooth.plot.sweep import plot_sweep
from rsmooth.report.aggregate import group_runs
from rsmooth.runfolder import read_runs
from tests.cli import invoke
from tests.fixtures import flat_curve, write_run, write_trials


def assert_figures(paths: list[Path], stems: list[str]) -> None:
    assert sorted(p.name for p in paths) == sorted(
        f"{stem}.{ext}" for stem in stems for ext in ("png", "pdf")
    )
    for path in paths:
        head = path.read_bytes()[:8]
        assert head.startswith(b"\x89PNG" if path.suffix == ".png" else b"%PDF")
        assert path.stat().st_size > 5_000  # a real figure, not an empty canvas


def configurations(root: Path):
    return group_runs(read_runs([root]))


def _curves_folder(root: Path) -> None:
    """Two data sets x (SGD, laplace grid of 2, logistic), two seeds, 6 epochs, plus noise."""
    for data in ("cifar10", "svhn"):
        common = {"model": "resnet56", "data": data, "epochs": 6}
        write_trials(root, f"{data}/sgd", [flat_curve(90, 6), flat_curve(91, 6)], **common)
        for b in (0.2, 0.5):
            write_trials(
                root,
                f"{data}/lap{b}",
                [flat_curve(91 + b, 6), flat_curve(92, 6)],
                anneal="laplace",
                b=b,
                **common,
            )
        write_trials(
            root,
            f"{data}/log",
            [flat_curve(91.5, 6), flat_curve(92, 6)],
            anneal="logistic",
            b=0.25,
            **common,
        )
        write_run(root, f"{data}/sgd/seed5", [10.0, 20.0], seed=5, status="running", **common)


def test_curve_is_mean_min_max_over_trials(tmp_path):
    write_run(tmp_path, "a", [50.0, 60.0, 70.0], train_loss=[0.9, 0.5, 0.3], seed=0)
    write_run(tmp_path, "b", [54.0, 58.0, 73.0], train_loss=[0.7, 0.5, 0.1], seed=1)
    write_run(tmp_path, "c", [1.0, 2.0], epochs=3, seed=2, status="running")  # not drawn
    (configuration,) = configurations(tmp_path)
    acc = curve(configuration, "val_acc")
    assert acc.epochs == [1, 2, 3]
    assert acc.mean == [52.0, 59.0, 71.5]
    assert acc.low == [50.0, 58.0, 70.0] and acc.high == [54.0, 60.0, 73.0]
    loss = curve(configuration, "train_loss")
    assert loss.mean == pytest.approx([0.8, 0.5, 0.2])
    assert curve(configuration, "no_such_key") is None


def test_plot_curves_renders_one_figure_per_model(tmp_path):
    _curves_folder(tmp_path / "runs")
    write_trials(tmp_path / "runs", "fmnist", [flat_curve(93, 4)], epochs=4)  # resnet20
    paths = plot_curves(configurations(tmp_path / "runs"), tmp_path / "fig")
    assert_figures(paths, ["curves-resnet20", "curves-resnet56"])


@pytest.mark.parametrize("epochs", [[3], [1, 2, 3]])
def test_a_curve_is_visible_however_few_its_epochs(epochs):
    """val_start can leave one evaluated epoch: a line through one point draws nothing."""
    import matplotlib.pyplot as plt

    n = len(epochs)
    data = Curve(epochs, [75.0] * n, [71.0] * n, [79.0] * n)
    fig, ax = plt.subplots()
    _draw(ax, data, "red")
    if n == 1:
        (bar,) = ax.containers  # a point with its min-max bar
        x, y = bar.lines[0].get_data()
        assert list(x) == [3] and list(y) == [75.0]
    else:
        (line,) = ax.get_lines()
        assert list(line.get_xdata()) == epochs and len(ax.collections) == 1  # and the band
    plt.close(fig)


def _with_holdout(run: Path, accuracy: float) -> None:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = [{**json.loads(x), "holdout_acc": accuracy} for x in lines]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_panel_draws_the_best_on_the_chosen_split_and_prefers_confirmed_runs(tmp_path):
    root = tmp_path / "runs"
    # wd 1e-3 is best on the test split, wd 1e-4 on the held-out split
    for wd, val, held in ((1e-3, 93.0, 80.0), (1e-4, 90.0, 85.0)):
        run = write_run(root, f"sgd/weight_decay={wd}/seed=0", flat_curve(val, 4), weight_decay=wd)
        _with_holdout(run, held)
    grid = group_runs(read_runs([root]), [root])
    assert _chosen(grid, "mean", "val").config["weight_decay"] == 1e-3
    assert _chosen(grid, "mean", "holdout").config["weight_decay"] == 1e-4
    confirmed = "confirm/sgd/weight_decay=1e-05/seed=100"
    write_run(root, confirmed, flat_curve(80, 4), weight_decay=1e-5, seed=100)
    _with_holdout(root / confirmed, 70.0)  # below the grid: chosen for being confirmed
    both = group_runs(read_runs([root]), [root])
    assert _chosen(both, "mean", "val").config["weight_decay"] == 1e-5  # the confirmed run
    # and so through `rsmooth plot curves`, which groups the runs under the folders it is given
    drawn = _chosen(_configurations([root], "mean"), "mean", "holdout")
    assert drawn is not None and drawn.config["weight_decay"] == 1e-5 and drawn.n == 1


def test_plot_curves_without_completed_runs_is_a_user_error(tmp_path):
    write_run(tmp_path, "r", [10.0], epochs=5, status="running")
    with pytest.raises(RsmoothError, match="no completed runs"):
        plot_curves(configurations(tmp_path), tmp_path / "fig")


def _sweep_folder(root: Path) -> None:
    for ratio in (0.5, 0.125):
        write_trials(
            root, f"{ratio}/sgd", [flat_curve(90, 4), flat_curve(90.4, 4)], subset=ratio, epochs=4
        )
        for anneal_name in ("laplace", "logistic"):
            for b in (0.1, 0.5, 0.9):
                shift = 0.3 if anneal_name == "logistic" else 0.0
                finals = [90.5 + b + shift, 90.7 + b, 90.6 + shift]
                write_trials(
                    root,
                    f"{ratio}/{anneal_name}{b}",
                    [flat_curve(f, 4) for f in finals],
                    subset=ratio,
                    epochs=4,
                    anneal=anneal_name,
                    b=b,
                )
    write_trials(
        root, "1.0/global", [flat_curve(91, 4)], epochs=4, anneal="laplace", scheme="global", b=0.3
    )  # one trial: no error bar, still drawn


def test_plot_sweep_renders_panels_per_ratio(tmp_path):
    _sweep_folder(tmp_path / "runs")
    paths = plot_sweep(configurations(tmp_path / "runs"), tmp_path / "fig", metric="mean")
    assert_figures(paths, ["sweep-resnet20-fashion-mnist"])


def test_plot_sweep_needs_smoothing_runs(tmp_path):
    write_trials(tmp_path, "sgd", [flat_curve(90, 4)], epochs=4)
    with pytest.raises(RsmoothError, match="residual-smoothing"):
        plot_sweep(configurations(tmp_path), tmp_path / "fig")


def test_plot_schedule_and_its_functions(tmp_path):
    assert_figures(plot_schedule(tmp_path), ["schedule-sigmoid", "schedule-anneal"])
    assert sigmoid(0.0, 0.6, 3.0) == pytest.approx(0.3)
    assert sigmoid(2.0, 1.0, 0.0) == pytest.approx(0.5)  # alpha 0: the global-only scheme
    assert sigmoid(-1000.0, 1.0, 1.0) == 0.0
    assert anneal(0.75, "laplace", 0.75, 0.3) == pytest.approx(1.0)
    assert anneal(0.25, "logistic", 0.75, 0.5) == pytest.approx(1 / math.cosh(0.5) ** 2)


def test_ratio_names():
    assert [ratio_name(r) for r in (1.0, 0.5, 0.25, 0.125, 0.3)] == [
        "all",
        "1/2",
        "1/4",
        "1/8",
        "0.3",
    ]


def test_cli_plot_commands(tmp_path, capsys):
    _curves_folder(tmp_path / "curves")
    _sweep_folder(tmp_path / "sweep")
    result = invoke(["plot", "curves", str(tmp_path / "curves")], capsys)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves" / "curves-resnet56.png").is_file()
    result = invoke(
        ["plot", "sweep", str(tmp_path / "sweep"), "--out", str(tmp_path / "figs")], capsys
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "figs" / "sweep-resnet20-fashion-mnist.pdf").is_file()
    result = invoke(["plot", "schedule", "--out", str(tmp_path / "figs")], capsys)
    assert result.exit_code == 0, result.output
    assert "schedule-anneal.png" in result.output
    result = invoke(["plot", "sweep", str(tmp_path / "curves"), "--metric", "x"], capsys)
    assert result.exit_code == 2 and "invalid metric" in result.output


@pytest.mark.parametrize("command", ["curves", "sweep"])
@pytest.mark.parametrize("value", [["resnet20", "resnet56"], {"name": "resnet20"}])
def test_a_damaged_run_is_listed_and_the_rest_drawn(tmp_path, capsys, command, value):
    """A config.yaml whose model is a list (or a mapping) once ended `plot curves` in a
    traceback: it grouped by str(model) and found no configuration of that model."""
    _sweep_folder(tmp_path / "runs")
    bad = write_run(tmp_path / "runs", "bad/seed=0", flat_curve(90, 4), epochs=4, seed=0)
    config = yaml.safe_load((bad / "config.yaml").read_text())
    (bad / "config.yaml").write_text(yaml.safe_dump(dict(config, model=value)))
    result = invoke(["plot", command, tmp_path / "runs", "--out", tmp_path / "fig"], capsys)
    assert result.exit_code == 0, result.output
    assert f"not drawn: {bad} (unreadable: config.yaml: model is " in result.stderr
    stem = "curves-resnet20" if command == "curves" else "sweep-resnet20-fashion-mnist"
    assert (tmp_path / "fig" / f"{stem}.png").is_file()


def test_a_foreign_run_is_not_drawn(tmp_path, capsys):
    _curves_folder(tmp_path / "runs")
    stray = write_run(tmp_path / "runs", "sgd/weight_decay=0.01/seed=0", [10.0] * 6, seed=0)
    result = invoke(["plot", "curves", tmp_path / "runs", "--out", tmp_path / "fig"], capsys)
    assert result.exit_code == 0, result.output
    assert f"not drawn: {stray} (foreign: its folder says weight_decay=0.01" in result.stderr


def test_figures_are_titled_from_the_runs_method_block(tmp_path, monkeypatch):
    """The titles come from the run folders (summary.json's method), not from the registries."""
    import rsmooth.plot.curves as curves_module

    for run in write_trials(tmp_path, "sgd", [flat_curve(90, 4)], epochs=4):
        summary = json.loads((run / "summary.json").read_text())
        summary["method"]["data"]["title"] = "Data Named In The Block"
        summary["method"]["model"]["title"] = "Model Named In The Block"
        (run / "summary.json").write_text(json.dumps(summary))
    figures = []
    save = curves_module.save

    def keep(fig, out_dir, stem):
        figures.append((fig.get_suptitle(), [ax.get_title() for ax in fig.axes]))
        return save(fig, out_dir, stem)

    monkeypatch.setattr(curves_module, "save", keep)
    plot_curves(configurations(tmp_path), tmp_path / "fig")
    ((suptitle, titles),) = figures
    assert suptitle.startswith("Learning curves, Model Named In The Block\n")
    assert titles[0].startswith("Data Named In The Block: (a) sgd")


def test_a_panel_names_the_grid_values_its_label_spells(tmp_path, monkeypatch):
    """The column title is the kind (``flood``); the chosen level is in the subtitle."""
    import rsmooth.plot.curves as curves_module

    write_trials(tmp_path, "sgd", [flat_curve(90, 4)], epochs=4)
    for level, final in ((0.02, 91.0), (0.1, 89.0)):
        write_trials(tmp_path, f"flood{level}", [flat_curve(final, 4)], epochs=4, flood=level)
    write_trials(tmp_path, "sam", [flat_curve(90, 4)], epochs=4, step_rule="sam", rho=0.2)
    titles = []
    save = curves_module.save

    def keep(fig, out_dir, stem):
        titles.extend(ax.get_title() for ax in fig.axes if ax.get_title())
        return save(fig, out_dir, stem)

    monkeypatch.setattr(curves_module, "save", keep)
    plot_curves(configurations(tmp_path), tmp_path / "fig")
    subtitles = {t.split(": ", 1)[1].split("\n")[0]: t.split("\n")[1] for t in titles}
    assert subtitles == {
        "(a) sgd": "wd=0.001, n=1",
        "(b) flood": "flood=0.02 wd=0.001, n=1",  # the title drops the implied "sgd + "
        "(c) sam": "rho=0.2 wd=0.001, n=1",
    }
