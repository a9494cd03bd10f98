"""Fig. 8a: latent means of test-set items under the full-covariance VAE, on the axes of
Fig. 6 (its decoded grid is Fig. 8b, a part of vae_grids)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prml_pipeline.figures._panels import digit_legend, draw_latents
from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled
from prml_pipeline.figures.vae_latents import latent_spec, load_panels

SHOWS = "the full-covariance VAE: test-set latent means, on the axes of the diagonal models'"


def spec(ctx: Any) -> dict[str, Any]:
    return latent_spec(ctx, [ctx.fullcov_model])


@styled
def plot_full_covariance(
    latents: np.ndarray,
    labels: np.ndarray,
    path: PathLike,
    dpi: int,
    limits: float = 8.0,
    title: str = "Full-covariance VAE",
    items: str = "test-set images",
    class_names: Sequence[str] | None = None,
) -> None:
    """Full-covariance VAE: latent means coloured by class, with the legend beside them."""
    fig, ax = pyplot().subplots(layout="compressed",
                                figsize=(0.62 * PAGE_WIDTH, 0.45 * PAGE_WIDTH))
    digit_legend(ax, draw_latents(ax, latents, labels, limits), class_names)
    ax.set_title(f"{title}\nlatent means of {np.asarray(labels).size} {items}")
    save_figure(fig, path, dpi)


def draw(inputs: Any, settings: dict[str, Any], path: PathLike) -> None:
    (panel,), limit = load_panels(inputs, settings)
    plot_full_covariance(panel["latents"], panel["labels"], path, dpi=settings["dpi"],
                         limits=limit, title=panel["title"], items=settings["items"],
                         class_names=settings["class_names"])
