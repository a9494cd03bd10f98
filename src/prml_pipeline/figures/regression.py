"""Fig. 3: log posterior and posterior-predictive variance of each regression experiment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled

SHOWS = ("Bayesian linear regression, one row per experiment: log posterior over "
         "(theta_1, theta_0) and posterior-predictive variance over (x_1, x_0)")
KEYS = ("axis", "log_posterior", "predictive_variance")


def spec(ctx: Any) -> dict[str, Any]:
    experiments = ctx.config["regression"]["experiments"]
    return {
        "inputs": {"experiments": [f"results/regression/{e}.npz" for e in ctx.experiments]},
        "plot": {
            "titles": [experiments[e]["title"] for e in ctx.experiments],
            "log_limits": ctx.config["plots"]["regression_log_limits"],
        },
    }


def _heatmap(ax: Any, values: np.ndarray, axis: np.ndarray, *, xlabel: str, ylabel: str,
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


def _grids(exp: dict[str, Any], axis: np.ndarray) -> dict[str, np.ndarray]:
    grids = {key: np.asarray(exp[key], dtype=float)
             for key in ("log_posterior", "predictive_variance")}
    for key, grid in grids.items():
        if grid.shape != (axis.size, axis.size):
            raise ValueError(f"{exp['title']!r}: {key} has shape {grid.shape}, "
                             f"expected {(axis.size, axis.size)} from the axis")
    return grids


@styled
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
    fig, axss = pyplot().subplots(nrows=len(experiments), ncols=2, squeeze=False,
                                  layout="compressed",
                                  figsize=(PAGE_WIDTH, 2.0 * len(experiments) + 0.4))
    for (ax_post, ax_var), exp in zip(axss, experiments, strict=True):
        axis = np.asarray(exp["axis"], dtype=float)
        grids = _grids(exp, axis)
        _heatmap(ax_post, grids["log_posterior"], axis, xlabel=r"$\theta_1$",
                 ylabel=r"$\theta_0$", vlim=log_limits,
                 title=f"{exp['title']}\n" + r"log posterior $\log p(\theta\,|\,\mathcal{D})$")
        _heatmap(ax_var, grids["predictive_variance"], axis, xlabel="$x_1$", ylabel="$x_0$",
                 title=f"{exp['title']}\n" + r"predictive variance of $\hat{y}$ at $\mathbf{x}$")
    fig.suptitle(suptitle)
    save_figure(fig, path, dpi)


def draw(inputs: Any, settings: dict[str, Any], path: PathLike) -> None:
    experiments = [
        {"title": title, **{key: arrays[key] for key in KEYS}}
        for title, arrays in zip(
            settings["titles"],
            (load_arrays(file, required=KEYS) for file in inputs.experiments),
            strict=True,
        )
    ]
    plot_regression(experiments, path, dpi=settings["dpi"], log_limits=settings["log_limits"])
