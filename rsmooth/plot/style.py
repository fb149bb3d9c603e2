"""Shared figure style: headless backend, the paper's colours, PNG + PDF output."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The paper's colours: Figs. 5-6 draw validation accuracy red, training loss blue and test
# loss green; Fig. 4 draws Laplace blue, Logistic red and the SGD baseline black.
VAL_ACC = "tab:red"
TRAIN_LOSS = "tab:blue"
VAL_LOSS = "tab:green"
ANNEAL_COLORS = {"laplace": "tab:blue", "logistic": "tab:red"}
BASELINE = "black"
BAND_ALPHA = 0.2


DPI = 150


def pyplot():
    """matplotlib.pyplot on the Agg backend: plots render without a display (CI, GPU boxes)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "legend.fontsize": 8,
            "figure.titlesize": 12,
        }
    )
    return plt


def save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` into ``out_dir``, close the figure, return paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def panel_letter(index: int) -> str:
    return f"({chr(ord('a') + index)})"


def ratio_name(subset: float) -> str:
    """0.5 -> "1/2", 0.125 -> "1/8", 1.0 -> "all"; other fractions as decimals."""
    if subset >= 1.0:
        return "all"
    inverse = 1.0 / subset
    if abs(inverse - round(inverse)) < 1e-9:
        return f"1/{round(inverse)}"
    return f"{subset:g}"
