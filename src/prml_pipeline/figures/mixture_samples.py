"""Fig. 4: samples of the two-component Gaussian mixture."""

from __future__ import annotations

from typing import Any

import numpy as np

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled

SHOWS = "samples from the Gaussian mixture of config.mixture"


def spec(ctx: Any) -> dict[str, Any]:
    return {"inputs": {"samples": "results/mixture/samples.npz"},
            "plot": {"n_samples": ctx.config["mixture"]["n_samples"]}}


@styled
def plot_mixture_samples(samples: np.ndarray, path: PathLike, dpi: int, title: str) -> None:
    """Fig. 4: scatter of (x_1, x_2) samples from the two-component Gaussian mixture."""
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must have shape (n, 2), got {samples.shape}")
    fig, ax = pyplot().subplots(figsize=(0.55 * PAGE_WIDTH, 0.55 * PAGE_WIDTH))
    ax.scatter(samples[:, 0], samples[:, 1], s=6, alpha=0.7, edgecolors="none")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")  # identity covariances should look round
    ax.set_title(title)
    save_figure(fig, path, dpi)


def draw(inputs: Any, settings: dict[str, Any], path: PathLike) -> None:
    samples = load_arrays(inputs.samples, required=("samples",))["samples"]
    plot_mixture_samples(samples, path, dpi=settings["dpi"],
                         title=f"{len(samples)} samples from the Gaussian mixture")
