"""Fig. 8: the full-covariance VAE: test-set latent means and its decoded grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.figures._panels import digit_legend, draw_grid, draw_latents, load_latents
from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled

SHOWS = "the full-covariance VAE: test-set latent means and the decoded grid"


def spec(ctx: Any) -> dict[str, Any]:
    model = ctx.fullcov_model
    return {
        "inputs": {"latents": f"results/vae/{model}/latents.npz",
                   "grid": f"results/vae/{model}/grid.npz"},
        "plot": {
            "title": ctx.model_title(model),
            "points": ctx.config["plots"]["latent_points"],
            "limit": ctx.config["plots"]["fullcov_latent_limit"],
            "items": ctx.test_items,
            "class_names": ctx.class_names,
        },
    }


@styled
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
    fig, (ax_lat, ax_grid) = pyplot().subplots(ncols=2, layout="compressed",
                                               figsize=(PAGE_WIDTH, 0.5 * PAGE_WIDTH))
    digit_legend(ax_lat, draw_latents(ax_lat, latents, labels, limits), class_names)
    ax_lat.set_title(f"Latent means of {np.asarray(labels).size} {items}")
    draw_grid(ax_grid, images)
    ax_grid.set_title("Decoded images, latent quantile grid")
    fig.suptitle(title)
    save_figure(fig, path, dpi)


def draw(inputs: Any, settings: dict[str, Any], path: PathLike) -> None:
    latents, labels = load_latents(inputs.latents, settings["points"])
    grid = load_arrays(inputs.grid, required=("images",))
    plot_full_covariance(latents, labels, grid["images"], path, dpi=settings["dpi"],
                         limits=settings["limit"], title=settings["title"],
                         items=settings["items"], class_names=settings["class_names"])
