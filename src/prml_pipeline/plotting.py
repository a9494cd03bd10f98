"""Figures of the sheet (Fig. 1 and 3-7), drawn from plain arrays with one style and one saver.

Every public function takes numpy arrays (or lists of them) plus an output path and writes a
PNG whose bytes depend only on its inputs: figures are rendered under a fixed rcParams set
(never the user's matplotlibrc) and saved without the version-stamped "Software" chunk.

Figures are drawn at the size they are printed: at most the report's text width wide
(``PAGE_WIDTH``), so the report places them at their natural size and a font size here is the
size a reader sees on paper (and, in the HTML, at about 14 px).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from math import isqrt
from typing import Any, ParamSpec, TypeVar

import matplotlib

matplotlib.use("Agg")  # headless and deterministic; must precede the pyplot import

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, Patch  # noqa: E402

from prml_pipeline.artifacts import atomic_path  # noqa: E402

PathLike = str | os.PathLike[str]
P = ParamSpec("P")
R = TypeVar("R")

# The sheet's dark backdrop behind the decoded-digit grids (plot_model's facecolor).
GRID_BACKGROUND = "#020419"
GRID_TEXT = "#e6e8f0"

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
}


def _styled(func: Callable[P, R]) -> Callable[P, R]:
    """Draw `func`'s figure under the shared style, isolated from global rcParams."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context():
            matplotlib.rc_file_defaults()
            matplotlib.rcParams.update(_STYLE)
            return func(*args, **kwargs)

    return wrapper


def save_figure(fig: Figure, path: PathLike, dpi: int) -> None:
    """Write `fig` as a PNG atomically (temp file + rename) and close it.

    The PNG carries no "Software" text chunk (it names the matplotlib version), so equal
    figures give equal bytes across processes and machines with the same fonts.
    """
    if not os.fspath(path).lower().endswith(".png"):
        raise ValueError(f"save_figure writes PNG only; got {os.fspath(path)!r}")
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- Fig. 1


# Node positions, labels and kinds of the Markov-blanket DAG; "C" nodes form the blanket of x.
_DAG_NODES: dict[str, tuple[float, float, str, str]] = {
    "x": (2.0, 2.0, "$x$", "A"),
    "C1": (1.0, 3.0, "$C_1$", "C"),
    "C2": (4.0, 3.0, "$C_2$", "C"),
    "C3": (3.0, 1.0, "$C_3$", "C"),
    "Ba": (1.0, 4.0, "$B_a$", "B"),
    "Bb": (0.0, 2.0, "$B_b$", "B"),
    "Bc": (4.0, 4.0, "$B_c$", "B"),
    "Bd": (5.0, 2.0, "$B_d$", "B"),
    "Be": (3.0, 0.0, "$B_e$", "B"),
}
# Role of each node relative to x and the side it is written on (kept clear of the arrows);
# (a)-(e) follow the 8.9 answer.
_DAG_ROLES: dict[str, tuple[str, str]] = {
    "C1": ("parent", "left"),
    "C2": ("co-parent", "right"),
    "C3": ("child", "right"),
    "Ba": ("(a) parent of parent", "right"),
    "Bb": ("(b) child of parent", "below"),
    "Bc": ("(c) parent of co-parent", "right"),
    "Bd": ("(d) child of co-parent", "below"),
    "Be": ("(e) child of child", "right"),
}
_DAG_EDGES = [
    ("Ba", "C1"), ("C1", "x"), ("C1", "Bb"), ("Bc", "C2"),
    ("C2", "C3"), ("x", "C3"), ("C2", "Bd"), ("C3", "Be"),
]
_NODE_RADIUS = 0.32
_NODE_FACE = {"A": "#f4a582", "C": "#9fb7d6", "B": "white"}


@_styled
def plot_markov_blanket(path: PathLike, dpi: int) -> None:
    """Fig. 1: x, its Markov blanket C (parents, children, co-parents) and other nodes B.

    Conditioned on C, x is independent of every B node (Bishop 8.9): each path from a B node
    to x passes a head-tail or tail-tail link at an observed C node.
    """
    fig, ax = plt.subplots(figsize=(0.8 * PAGE_WIDTH, 0.64 * PAGE_WIDTH))
    for src, dst in _DAG_EDGES:
        start, end = np.array(_DAG_NODES[src][:2]), np.array(_DAG_NODES[dst][:2])
        unit = (end - start) / np.linalg.norm(end - start)
        # Arrows run circle edge to circle edge, so heads are not hidden under nodes.
        ax.add_patch(FancyArrowPatch(
            tuple(start + unit * _NODE_RADIUS), tuple(end - unit * _NODE_RADIUS),
            arrowstyle="-|>", mutation_scale=12, linewidth=1.1, color="#333333",
        ))
    for name, (cx, cy, label, kind) in _DAG_NODES.items():
        ax.add_patch(Circle((cx, cy), _NODE_RADIUS, facecolor=_NODE_FACE[kind],
                            edgecolor="black", linewidth=2.0 if kind == "A" else 1.2))
        ax.text(cx, cy, label, ha="center", va="center", fontsize=10)
        if name in _DAG_ROLES:
            role, side = _DAG_ROLES[name]
            gap = _NODE_RADIUS + 0.08
            tx, ty, ha, va = {"left": (cx - gap, cy, "right", "center"),
                              "right": (cx + gap, cy, "left", "center"),
                              "below": (cx, cy - gap, "center", "top")}[side]
            ax.text(tx, ty, role, ha=ha, va=va, fontsize=7, color="#444444")
    fig.legend(
        handles=[
            Patch(facecolor=_NODE_FACE["A"], edgecolor="black", label="A: node $x$"),
            Patch(facecolor=_NODE_FACE["C"], edgecolor="black",
                  label="C: Markov blanket of $x$ (shaded, observed)"),
            Patch(facecolor=_NODE_FACE["B"], edgecolor="black",
                  label="B: all other nodes (unshaded)"),
        ],
        loc="outside lower center", ncols=2,
    )
    ax.set_xlim(-0.9, 6.3)
    ax.set_ylim(-0.4, 4.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(r"Markov blanket: $x \perp B \mid C$", fontsize=9)
    save_figure(fig, path, dpi)


# --------------------------------------------------------------------------- Fig. 3


def _heatmap(ax: Axes, values: np.ndarray, axis: np.ndarray, *, xlabel: str, ylabel: str,
             title: str, vlim: tuple[float, float] | None = None) -> None:
    """Draw values[i, j] at (x=axis[j], y=axis[i]) with a colourbar; rows grow upwards."""
    lo, hi = (None, None) if vlim is None else vlim
    img = ax.imshow(values, origin="lower", extent=(axis[0], axis[-1], axis[0], axis[-1]),
                    vmin=lo, vmax=hi, aspect="equal")
    # Fixed limits clip the long log-density tail; the colourbar arrows say so.
    ax.figure.colorbar(img, ax=ax, fraction=0.046, pad=0.04,
                       extend="neither" if vlim is None else "both")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)


@_styled
def plot_regression(
    experiments: Sequence[dict[str, Any]],
    path: PathLike,
    dpi: int,
    log_limits: tuple[float, float] = (-5.0, 5.0),
    suptitle: str = "Posterior and predictive variance for Bayesian linear regression models",
) -> None:
    """Fig. 3: per experiment, log p(theta|D) (fixed colour scale) and Var[y_hat | x, D].

    Each dict: title, axis (1-D grid), log_posterior[i, j] at (theta_0=axis[i],
    theta_1=axis[j]) and predictive_variance[i, j] at (x_0=axis[i], x_1=axis[j]).
    """
    if not experiments:
        raise ValueError("plot_regression needs at least one experiment")
    fig, axss = plt.subplots(nrows=len(experiments), ncols=2, squeeze=False, layout="compressed",
                             figsize=(PAGE_WIDTH, 2.0 * len(experiments) + 0.4))  # 4 fit a page
    for (ax_post, ax_var), exp in zip(axss, experiments, strict=True):
        axis = np.asarray(exp["axis"], dtype=float)
        grids = {key: np.asarray(exp[key], dtype=float)
                 for key in ("log_posterior", "predictive_variance")}
        for key, grid in grids.items():
            if grid.shape != (axis.size, axis.size):
                raise ValueError(f"{exp['title']!r}: {key} has shape {grid.shape}, "
                                 f"expected {(axis.size, axis.size)} from the axis")
        _heatmap(ax_post, grids["log_posterior"], axis, xlabel=r"$\theta_1$",
                 ylabel=r"$\theta_0$", vlim=log_limits,
                 title=f"{exp['title']}\n" + r"log posterior $\log p(\theta\,|\,\mathcal{D})$")
        _heatmap(ax_var, grids["predictive_variance"], axis, xlabel="$x_1$", ylabel="$x_0$",
                 title=f"{exp['title']}\n" + r"predictive variance of $\hat{y}$ at $\mathbf{x}$")
    fig.suptitle(suptitle)
    save_figure(fig, path, dpi)


# --------------------------------------------------------------------------- Fig. 4 and 5


@_styled
def plot_mixture_samples(samples: np.ndarray, path: PathLike, dpi: int, title: str) -> None:
    """Fig. 4: scatter of (x_1, x_2) samples from the two-component Gaussian mixture."""
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must have shape (n, 2), got {samples.shape}")
    fig, ax = plt.subplots(figsize=(0.55 * PAGE_WIDTH, 0.55 * PAGE_WIDTH))
    ax.scatter(samples[:, 0], samples[:, 1], s=6, alpha=0.7, edgecolors="none")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")  # identity covariances should look round
    ax.set_title(title)
    save_figure(fig, path, dpi)


@_styled
def plot_conditionals(
    conditionals: Sequence[dict[str, Any]],
    path: PathLike,
    dpi: int,
    xlim: tuple[float, float] = (-2.0, 8.0),
    suptitle: str | None = None,
) -> None:
    """Fig. 5: KDE of x_2 samples from p(x_2 | x_1 = v), one panel per conditioning value.

    Each dict: value (v), weights (the conditional mixing coefficients), samples (n,) of x_2.
    """
    if not conditionals:
        raise ValueError("plot_conditionals needs at least one conditional")
    fig, axs = plt.subplots(ncols=len(conditionals), sharey=True, squeeze=False,
                            figsize=(PAGE_WIDTH, 2.6))
    sizes = set()
    for ax, cond in zip(axs[0], conditionals, strict=True):
        samples = np.asarray(cond["samples"], dtype=float).ravel()
        sizes.add(samples.size)
        sns.kdeplot(x=samples, ax=ax, fill=True, alpha=0.25, linewidth=1.2)
        weights = ", ".join(f"{w:.2f}" for w in cond["weights"])
        ax.set_title(f"$x_1 = {cond['value']:g}$\nnew mixing coefficients [{weights}]")
        ax.set_xlabel("$x_2$")
        ax.set_xlim(xlim)
    if suptitle is None:
        count = f"{sizes.pop()} samples" if len(sizes) == 1 else "Samples"
        suptitle = f"{count} from the conditioned Gaussian mixture model (KDE)"
    fig.suptitle(suptitle)
    save_figure(fig, path, dpi)


# --------------------------------------------------------------------------- Fig. 6 and 7


def _digit_colour(digit: int) -> tuple[float, ...]:
    """Set3 colour scaled by 0.9 (the sheet's palette), indexed by the digit itself so that
    every panel and figure gives a digit the same colour."""
    palette = plt.colormaps["Set3"].colors
    return tuple(np.asarray(palette[digit % len(palette)]) * 0.9)


def _draw_latents(ax: Axes, latents: np.ndarray, labels: np.ndarray, limits: float) -> set[int]:
    """Scatter latent means coloured by digit, square axes +-limits; returns the digits drawn."""
    latents = np.asarray(latents, dtype=float)
    labels = np.asarray(labels).ravel()
    if latents.ndim != 2 or latents.shape[1] != 2:
        raise ValueError(f"latents must have shape (n, 2), got {latents.shape}")
    if latents.shape[0] != labels.size:
        raise ValueError(f"latents and labels differ in length: {latents.shape[0]} latents "
                         f"but {labels.size} labels")
    frame = pl.DataFrame({"z1": latents[:, 0], "z2": latents[:, 1],
                          "Digit": labels.astype(np.int64)})
    # Larger dots for the sheet's 500 points, smaller ones for the full 10k test set.
    size = float(np.clip(3000 / max(len(frame), 1), 0.8, 6.0))
    digits = set()
    for (digit,), group in frame.sort("Digit").group_by("Digit", maintain_order=True):
        ax.scatter(group["z1"].to_numpy(), group["z2"].to_numpy(), s=size,
                   color=_digit_colour(digit), edgecolors="none", alpha=0.85)
        digits.add(digit)
    ax.set_xlim(-limits, limits)
    ax.set_ylim(-limits, limits)
    ax.set_aspect("equal")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return digits


def _digit_legend(owner: Figure | Axes, digits: set[int],
                  class_names: Sequence[str] | None = None) -> None:
    """One legend of class colours, outside the data, with markers big enough to read; each
    class is named by `class_names[label]` when given (T-shirt/top), else by its number."""
    def name(label: int) -> str:
        return class_names[label] if class_names and label < len(class_names) else str(label)

    handles = [Line2D([], [], marker="o", linestyle="", markersize=5, label=name(digit),
                      color=_digit_colour(digit)) for digit in sorted(digits)]
    if isinstance(owner, Figure):
        owner.legend(handles=handles, title="Label", loc="outside right center")
    else:
        owner.legend(handles=handles, title="Label", loc="center left",
                     bbox_to_anchor=(1.02, 0.5))


def compose_grid(images: np.ndarray, grid_size: int) -> np.ndarray:
    """Tile images[k] (k = row * grid_size + col, the sheet's axss.flat order) into one image."""
    images = np.asarray(images, dtype=float)
    if images.ndim != 3 or images.shape[0] != grid_size * grid_size:
        raise ValueError(f"expected {grid_size * grid_size} images of shape (h, w), "
                         f"got array of shape {images.shape}")
    _, height, width = images.shape
    tiles = images.reshape(grid_size, grid_size, height, width)
    return tiles.transpose(0, 2, 1, 3).reshape(grid_size * height, grid_size * width)


def _draw_grid(ax: Axes, images: np.ndarray) -> None:
    """Show decoded images as one tiled picture; z_1 grows rightwards, z_2 upwards."""
    images = np.asarray(images, dtype=float)
    grid_size = isqrt(images.shape[0])
    if grid_size * grid_size != images.shape[0]:
        raise ValueError(f"need a square number of images, got {images.shape[0]}")
    ax.imshow(compose_grid(images, grid_size), cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(r"$z_1$ increasing $\rightarrow$")
    ax.set_ylabel(r"$z_2$ increasing $\rightarrow$")


@_styled
def plot_latents(
    panels: Sequence[dict[str, Any]],
    path: PathLike,
    dpi: int,
    limits: float = 3.0,
    items: str = "test-set images",
    class_names: Sequence[str] | None = None,
) -> None:
    """Fig. 6: encoder means of each VAE, coloured by class; dicts: title, latents, labels."""
    if not panels:
        raise ValueError("plot_latents needs at least one panel")
    # The legend takes about 1.1 in on the right; the square panels share the rest.
    side = (PAGE_WIDTH - 1.1) / len(panels)
    fig, axs = plt.subplots(ncols=len(panels), squeeze=False, sharex=True, sharey=True,
                            layout="compressed", figsize=(PAGE_WIDTH, side + 0.9))
    digits: set[int] = set()
    for ax, panel in zip(axs[0], panels, strict=True):
        digits |= _draw_latents(ax, panel["latents"], panel["labels"], limits)
        ax.set_title(panel["title"])
        ax.label_outer()  # the y axis is shared: label it once, on the left
    _digit_legend(fig, digits, class_names)
    counts = {len(panel["labels"]) for panel in panels}
    count = f"{counts.pop()} " if len(counts) == 1 else ""
    fig.suptitle(f"Means of latent distributions for {count}{items}, coloured by true label")
    save_figure(fig, path, dpi)


@_styled
def plot_latent_grids(
    panels: Sequence[dict[str, Any]],
    path: PathLike,
    dpi: int,
    suptitle: str = "Decoded images over an evenly spaced grid of latent quantiles",
) -> None:
    """Fig. 7: each model's decoder outputs on a latent grid; dicts: title, images (g*g, h, w)."""
    if not panels:
        raise ValueError("plot_latent_grids needs at least one panel")
    fig, axs = plt.subplots(ncols=len(panels), squeeze=False, facecolor=GRID_BACKGROUND,
                            layout="compressed",
                            figsize=(PAGE_WIDTH, PAGE_WIDTH / len(panels) + 0.6))
    for ax, panel in zip(axs[0], panels, strict=True):
        _draw_grid(ax, panel["images"])
        ax.set_title(panel["title"], color=GRID_TEXT)
        ax.xaxis.label.set_color(GRID_TEXT)
        ax.yaxis.label.set_color(GRID_TEXT)
    fig.suptitle(suptitle, color=GRID_TEXT)
    save_figure(fig, path, dpi)


@_styled
def plot_full_covariance(
    latents: np.ndarray,
    labels: np.ndarray,
    images: np.ndarray,
    path: PathLike,
    dpi: int,
    limits: float = 8.0,
    title: str = "Full-covariance VAE",
    items: str = "test-set images",
    class_names: Sequence[str] | None = None,
) -> None:
    """Full-covariance VAE: latent means by digit (left) and its decoded latent grid (right)."""
    fig, (ax_lat, ax_grid) = plt.subplots(ncols=2, layout="compressed",
                                          figsize=(PAGE_WIDTH, 0.5 * PAGE_WIDTH))
    _digit_legend(ax_lat, _draw_latents(ax_lat, latents, labels, limits), class_names)
    ax_lat.set_title(f"Latent means of {np.asarray(labels).size} {items}")
    _draw_grid(ax_grid, images)
    ax_grid.set_title("Decoded images, latent quantile grid")
    fig.suptitle(title)
    save_figure(fig, path, dpi)
