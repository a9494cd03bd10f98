"""Fig. 7: images decoded from an inverse-CDF grid of latents, per diagonal-covariance VAE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.figures._panels import GRID_BACKGROUND, GRID_TEXT, draw_grid
from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled

SHOWS = ("images decoded from an inverse-CDF grid of latents, for each "
         "diagonal-covariance VAE")


def spec(ctx: Any) -> dict[str, Any]:
    return {
        "inputs": {"grids": [f"results/vae/{m}/grid.npz" for m in ctx.diagonal_models]},
        "plot": {"titles": [ctx.model_title(m) for m in ctx.diagonal_models]},
    }


@styled
def plot_latent_grids(
    panels: Sequence[dict[str, Any]],
    path: PathLike,
    dpi: int,
    suptitle: str = "Decoded images over an evenly spaced grid of latent quantiles",
) -> None:
    """Fig. 7: each model's decoder outputs on a latent grid; dicts: title, images (g*g, h, w)."""
    if not panels:
        raise ValueError("plot_latent_grids needs at least one panel")
    fig, axs = pyplot().subplots(ncols=len(panels), squeeze=False, facecolor=GRID_BACKGROUND,
                                 layout="compressed",
                                 figsize=(PAGE_WIDTH, PAGE_WIDTH / len(panels) + 0.6))
    for ax, panel in zip(axs[0], panels, strict=True):
        draw_grid(ax, panel["images"])
        ax.set_title(panel["title"], color=GRID_TEXT)
        ax.xaxis.label.set_color(GRID_TEXT)
        ax.yaxis.label.set_color(GRID_TEXT)
    fig.suptitle(suptitle, color=GRID_TEXT)
    save_figure(fig, path, dpi)


def draw(inputs: Any, settings: dict[str, Any], path: PathLike) -> None:
    panels = [
        {"title": title, "images": load_arrays(file, required=("images",))["images"]}
        for title, file in zip(settings["titles"], inputs.grids, strict=True)
    ]
    plot_latent_grids(panels, path, dpi=settings["dpi"])
