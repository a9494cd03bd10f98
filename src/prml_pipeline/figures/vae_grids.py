"""Figs. 7 and 8b: the images one VAE decodes on an inverse-CDF grid of latents, one figure
per model (a part of this figure), each wide enough that every decoded image can be read."""

from __future__ import annotations

from typing import Any

import numpy as np

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.figures._panels import draw_grid
from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled

SHOWS = "images decoded from an inverse-CDF grid of latents, one figure per VAE"
# A grid's printed width: at the sheet's 20 x 20 grid, each decoded image is about 5.5 mm wide.
GRID_WIDTH = 0.66 * PAGE_WIDTH


def parts(ctx: Any) -> list[str]:
    """One figure per model: the diagonal ones (Fig. 7) and the full-covariance one (8b)."""
    return [*ctx.diagonal_models, ctx.fullcov_model]


def spec(ctx: Any, model: str) -> dict[str, Any]:
    return {"inputs": {"grid": f"results/vae/{model}/grid.npz"},
            "plot": {"title": ctx.model_title(model)}}


@styled
def plot_latent_grid(images: np.ndarray, path: PathLike, dpi: int, title: str) -> None:
    """One model's decoder outputs on the latent grid, images (g*g, h, w) in [0, 1]."""
    fig, ax = pyplot().subplots(layout="compressed", figsize=(GRID_WIDTH, GRID_WIDTH + 0.3))
    draw_grid(ax, images)
    ax.set_title(f"{title}\ndecoded images on the latent quantile grid")
    save_figure(fig, path, dpi)


def draw(inputs: Any, settings: dict[str, Any], path: PathLike) -> None:
    images = load_arrays(inputs.grid, required=("images",))["images"]
    plot_latent_grid(images, path, dpi=settings["dpi"], title=settings["title"])
