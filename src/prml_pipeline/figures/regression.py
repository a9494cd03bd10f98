"""Fig. 3: per regression experiment, the log posterior on the sheet's view, the posterior
close up (where its shape and tilt show), and the posterior-predictive variance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled

SHOWS = ("Bayesian linear regression, one row per experiment: log posterior over "
         "(theta_1, theta_0) on the sheet's view and close up, and posterior-predictive "
         "variance over (x_1, x_0)")
KEYS = ("axis", "log_posterior", "predictive_variance", "post_mean", "post_cov")
# Filled contour levels per panel: enough to read a smooth surface, few enough to stay small.
_LEVELS = 14


def spec(ctx: Any) -> dict[str, Any]:
    regression = ctx.config["regression"]
    experiments = regression["experiments"]
    return {
        "inputs": {"experiments": [f"results/regression/{e}.npz" for e in ctx.experiments]},
        "plot": {
            "titles": [experiments[e]["title"] for e in ctx.experiments],
            "log_limits": ctx.config["plots"]["regression_log_limits"],
            "theta": regression["theta"],
        },
    }


def _contours(ax: Any, x: np.ndarray, y: np.ndarray, values: np.ndarray, *, xlabel: str,
              ylabel: str, title: str, vlim: tuple[float, float] | None = None) -> None:
    """Filled contours of values[i, j] at (x[j], y[i]) with a colourbar (vector output).

    With `vlim`, values outside it are drawn in the end colours and the colourbar's arrows
    say so."""
    # At most about 100 points a side: smooth enough at printed size, and the vector file
    # (each band a path) stays small.
    step = max(1, len(x) // 100)
    x, y, values = x[::step], y[::step], values[::step, ::step]
    lo, hi = (float(np.min(values)), float(np.max(values))) if vlim is None else vlim
    levels = np.linspace(lo, hi, _LEVELS + 1)
    from matplotlib.ticker import MaxNLocator

    filled = ax.contourf(x, y, np.clip(values, lo, hi), levels=levels,
                         extend="neither" if vlim is None else "both")
    filled.set_edgecolor("face")  # no hairline seams between the bands in PDF and SVG
    ticks = [t for t in MaxNLocator(4).tick_values(lo, hi) if lo <= t <= hi]
    ax.figure.colorbar(filled, ax=ax, fraction=0.046, pad=0.04, ticks=ticks)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)


def posterior_close_up(mean: np.ndarray, cov: np.ndarray, points: int = 81
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Gaussian log posterior ln N(theta; mean, cov) on a square around the mean, four
    of its largest standard deviations each way: axes (theta_1, theta_0) and values[i, j] at
    (theta_0 = ys[i], theta_1 = xs[j]), as in the sheet's view."""
    mean, cov = np.asarray(mean, dtype=float), np.asarray(cov, dtype=float)
    half = 4.0 * float(np.sqrt(np.max(np.diag(cov))))
    xs = mean[1] + np.linspace(-half, half, points)
    ys = mean[0] + np.linspace(-half, half, points)
    t0, t1 = np.meshgrid(ys, xs, indexing="ij")
    diff = np.stack([t0 - mean[0], t1 - mean[1]], axis=-1)
    mahalanobis = np.einsum("...i,ij,...j->...", diff, np.linalg.inv(cov), diff)
    log_density = -0.5 * (mahalanobis + np.log(np.linalg.det(2 * np.pi * cov)))
    return xs, ys, log_density


def _close_up(ax: Any, exp: dict[str, Any], theta: Sequence[float] | None) -> None:
    cov = np.asarray(exp["post_cov"], dtype=float)
    xs, ys, log_density = posterior_close_up(exp["post_mean"], cov)
    rho = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    peak = float(log_density.max())
    # The same depth below the peak as the sheet's view spans: 8 nats, i.e. 4 sd.
    _contours(ax, xs, ys, log_density, xlabel=r"$\theta_1$", ylabel=r"$\theta_0$",
              vlim=(peak - 8.0, peak),
              title="close up, correlation " + f"{rho:+.2f}".replace("-", "\u2212"))
    if theta is not None and (xs[0] <= theta[1] <= xs[-1]) and (ys[0] <= theta[0] <= ys[-1]):
        ax.plot(theta[1], theta[0], marker="+", color="white", markersize=7, mew=1.2)


@styled
def plot_regression(
    experiments: Sequence[dict[str, Any]],
    path: PathLike,
    dpi: int,
    log_limits: tuple[float, float] = (-5.0, 5.0),
    theta: Sequence[float] | None = None,
    suptitle: str = "Posterior and predictive variance for Bayesian linear regression models",
) -> None:
    """Fig. 3: per experiment, log p(theta|D) on the sheet's fixed view and colour scale, the
    same posterior close up (its own scale: its shape and tilt), and Var[y_hat | x, D].

    Each dict: title, axis (1-D grid), log_posterior[i, j] at (theta_0=axis[i],
    theta_1=axis[j]), predictive_variance[i, j] at (x_0=axis[i], x_1=axis[j]), post_mean
    and post_cov of theta. `theta`, the true parameters, is marked in the close up.
    """
    if not experiments:
        raise ValueError("plot_regression needs at least one experiment")
    fig, axss = pyplot().subplots(nrows=len(experiments), ncols=3, squeeze=False,
                                  layout="compressed",
                                  figsize=(PAGE_WIDTH, 1.75 * len(experiments) + 0.5))
    for (ax_post, ax_close, ax_var), exp in zip(axss, experiments, strict=True):
        axis = np.asarray(exp["axis"], dtype=float)
        for key in ("log_posterior", "predictive_variance"):
            if np.shape(exp[key]) != (axis.size, axis.size):
                raise ValueError(f"{exp['title']!r}: {key} has shape {np.shape(exp[key])}, "
                                 f"expected {(axis.size, axis.size)} from the axis")
        _contours(ax_post, axis, axis, np.asarray(exp["log_posterior"], dtype=float),
                  xlabel=r"$\theta_1$", ylabel=r"$\theta_0$", vlim=tuple(log_limits),
                  title=f"{exp['title']}\n" + r"$\ln p(\theta\,|\,\mathcal{D})$")
        _close_up(ax_close, exp, theta)
        _contours(ax_var, axis, axis, np.asarray(exp["predictive_variance"], dtype=float),
                  xlabel="$x_1$", ylabel="$x_0$",
                  title="predictive variance\n" + r"of $\hat{y}$ at $\mathbf{x}$")
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
    plot_regression(experiments, path, dpi=settings["dpi"], log_limits=settings["log_limits"],
                    theta=settings.get("theta"))
