"""The figures' shared look and their one saver.

Every figure is drawn under a fixed rcParams set (never the user's matplotlibrc) and saved in
three formats: PDF for the LaTeX report and SVG for the HTML one (vector: plots stay sharp at
any zoom; pixel images such as the decoded grids are embedded at their own resolution, drawn
without smoothing), and a PNG preview (Snakemake's report, `prml compare`'s pixel difference).
None carries a date or a version-stamped "Software" field, so the bytes depend only on the
inputs.
Figures are drawn at the size they are printed: at most the report's text width wide
(``PAGE_WIDTH``), so the report places them at their natural size and a font size here is the
size a reader sees on paper (and, in the HTML, at about 14 px).

matplotlib is imported when a figure is drawn, not when a figure module is imported: the
workflow imports every figure module to read its `spec`, and that must stay cheap.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from prml_pipeline.artifacts import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PathLike = str | os.PathLike[str]
P = ParamSpec("P")
R = TypeVar("R")

# The PDF report's text width in inches (report/metadata.yaml: letter paper, 2.5 cm margins).
PAGE_WIDTH = 6.5

# Full rcParams baseline: rc_file_defaults + these keys, so a local matplotlibrc or an earlier
# rcParams change in the same process cannot alter the output bytes.
# Layouts: "constrained" by default; "compressed" for grids of fixed-aspect panels (it packs
# them without clipping labels and sizes colourbars to the drawn images).
_STYLE: dict[str, Any] = {
    "figure.constrained_layout.use": True,
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
    "font.size": 8,
    "axes.titlesize": 8,
    "figure.titlesize": 9,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.facecolor": "auto",
    # Text in the PDF as embedded TrueType (selectable, crisp), in the SVG as paths (the file
    # needs no font); SVG element ids fixed (save_figure), so equal figures give equal bytes.
    "pdf.fonttype": 42,
    "svg.fonttype": "path",
}
# The formats every figure is saved in, with the metadata that would vary between runs off.
FORMATS: dict[str, dict[str, Any]] = {
    "pdf": {"metadata": {"CreationDate": None, "Producer": None, "Creator": None}},
    "svg": {"metadata": {"Date": None, "Creator": None}},
    "png": {"metadata": {"Software": None}},
}


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the headless, deterministic Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def styled(func: Callable[P, R]) -> Callable[P, R]:
    """Draw `func`'s figure under the shared style, isolated from global rcParams."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import matplotlib

        pyplot()
        with matplotlib.rc_context():
            matplotlib.rc_file_defaults()
            matplotlib.rcParams.update(_STYLE)
            return func(*args, **kwargs)

    return wrapper


def figure_paths(png: PathLike) -> dict[str, str]:
    """The files a figure is saved as: the PNG path given, and the same path with each other
    format's extension (results/figures/regression.pdf, .svg)."""
    stem, extension = os.path.splitext(os.fspath(png))
    if extension.lower() != ".png":
        raise ValueError(f"save_figure takes the PNG's path; got {os.fspath(png)!r}")
    return {fmt: f"{stem}.{fmt}" for fmt in FORMATS}


def save_figure(fig: Figure, path: PathLike, dpi: int) -> None:
    """Write `fig` as the PNG `path` and, beside it, as PDF and SVG, each atomically (temp
    file + rename), and close it. `dpi` is the PNG's resolution; the vector formats embed a
    pixel image (imshow with interpolation "none") at the image's own resolution."""
    import matplotlib

    plt = pyplot()
    try:
        for fmt, target in figure_paths(path).items():
            # SVG element ids from the figure's name: unique when the HTML inlines several.
            salt = {"svg.hashsalt": os.path.basename(target)}
            with atomic_path(target) as tmp, matplotlib.rc_context(salt):
                fig.savefig(tmp, format=fmt, dpi=dpi, **FORMATS[fmt])
    finally:
        plt.close(fig)
