"""Fig. 6: latent means of test-set items under each diagonal-covariance VAE.

Its axes are those of Fig. 8 (the full-covariance model's latents): one limit for all four
models, chosen from the data so that no point falls outside."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prml_pipeline.figures._panels import (
    common_limit,
    digit_legend,
    draw_latents,
    load_latents,
)
from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled

SHOWS = ("latent means of test-set images under each diagonal-covariance VAE, "
         "coloured by true label")


def latent_spec(ctx: Any, models: Sequence[str]) -> dict[str, Any]:
    """Inputs and settings of a latent figure: its models' latents, and every latent figure's
    (the shared axis limit is read from all of them)."""
    every = [*ctx.diagonal_models, ctx.fullcov_model]
    return {
        "inputs": {"latents": [f"results/vae/{m}/latents.npz" for m in models],
                   "shared": [f"results/vae/{m}/latents.npz" for m in every]},
        "plot": {
            "titles": [ctx.model_title(m) for m in models],
            "points": ctx.config["plots"]["latent_points"],
            "items": ctx.test_items,
            "class_names": ctx.class_names,
        },
    }


def spec(ctx: Any) -> dict[str, Any]:
    return latent_spec(ctx, ctx.diagonal_models)


def load_panels(inputs: Any, settings: dict[str, Any]) -> tuple[list[dict[str, Any]], float]:
    """Each model's first `points` latent means, and the axis limit shared by all models."""
    points = settings["points"]
    limit = common_limit(*(load_latents(file, points)[0] for file in inputs.shared))
    panels = []
    for title, file in zip(settings["titles"], inputs.latents, strict=True):
        latents, labels = load_latents(file, points)
        panels.append({"title": title, "latents": latents, "labels": labels})
    return panels, limit


@styled
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
    # The legend takes about 1.3 in on the right; the square panels share the rest.
    side = (PAGE_WIDTH - 1.3) / len(panels)
    fig, axs = pyplot().subplots(ncols=len(panels), squeeze=False, sharex=True, sharey=True,
                                 layout="compressed", figsize=(PAGE_WIDTH, side + 0.9))
    digits: set[int] = set()
    for ax, panel in zip(axs[0], panels, strict=True):
        digits |= draw_latents(ax, panel["latents"], panel["labels"], limits)
        ax.set_title(panel["title"])
        ax.label_outer()  # the y axis is shared: label it once, on the left
    digit_legend(fig, digits, class_names)
    counts = {len(panel["labels"]) for panel in panels}
    count = f"{counts.pop()} " if len(counts) == 1 else ""
    fig.suptitle(f"Means of latent distributions for {count}{items}, coloured by true label")
    save_figure(fig, path, dpi)


def draw(inputs: Any, settings: dict[str, Any], path: PathLike) -> None:
    panels, limit = load_panels(inputs, settings)
    plot_latents(panels, path, dpi=settings["dpi"], limits=limit, items=settings["items"],
                 class_names=settings["class_names"])
