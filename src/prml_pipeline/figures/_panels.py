"""Panels that the VAE figures share: latent scatters coloured by class, and decoded grids.

Not a figure (its name starts with an underscore): Figures 6, 7 and 8 draw through it, so an
edit here redraws those three.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isqrt
from typing import Any

import numpy as np

from prml_pipeline.artifacts import load_arrays

# Decoded pixels in grayscale like the data: dark ink where the decoder is sure a pixel is on.
GRID_COLORMAP = "gray_r"


def load_latents(path: str, points: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `points` latent means and labels of a latents artifact."""
    arrays = load_arrays(path, required=("latents", "labels"))
    return arrays["latents"][:points], arrays["labels"][:points]


def digit_colour(digit: int) -> tuple[float, ...]:
    """Set3 colour scaled by 0.9 (the sheet's palette), indexed by the digit itself so that
    every panel and figure gives a digit the same colour."""
    import matplotlib

    palette = matplotlib.colormaps["Set3"].colors
    return tuple(np.asarray(palette[digit % len(palette)]) * 0.9)


def _checked(latents: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    latents = np.asarray(latents, dtype=float)
    labels = np.asarray(labels).ravel()
    if latents.ndim != 2 or latents.shape[1] != 2:
        raise ValueError(f"latents must have shape (n, 2), got {latents.shape}")
    if latents.shape[0] != labels.size:
        raise ValueError(f"latents and labels differ in length: {latents.shape[0]} latents "
                         f"but {labels.size} labels")
    return latents, labels


def common_limit(*latent_sets: np.ndarray) -> float:
    """One axis limit for every latent panel, from the data: the largest |z| among the
    points drawn, rounded up to a half unit, so that panels share axes and no point is cut."""
    largest = max(float(np.max(np.abs(np.asarray(z, dtype=float)))) for z in latent_sets)
    return float(np.ceil(largest * 1.02 * 2.0) / 2.0)


def draw_latents(ax: Any, latents: np.ndarray, labels: np.ndarray, limits: float) -> set[int]:
    """Scatter latent means coloured by class, square axes +-limits; returns the classes drawn.

    A point outside the limits is an error, not a silently clipped dot."""
    import polars as pl

    latents, labels = _checked(latents, labels)
    outside = int(np.sum(np.any(np.abs(latents) > limits, axis=1)))
    if outside:
        raise ValueError(f"{outside} latent means lie outside the axes (+-{limits:g}); "
                         "choose the limit with common_limit")
    frame = pl.DataFrame({"z1": latents[:, 0], "z2": latents[:, 1],
                          "Digit": labels.astype(np.int64)})
    # Larger dots for the sheet's 500 points, smaller ones for the full 10k test set.
    size = float(np.clip(3000 / max(len(frame), 1), 0.8, 6.0))
    digits = set()
    for (digit,), group in frame.sort("Digit").group_by("Digit", maintain_order=True):
        ax.scatter(group["z1"].to_numpy(), group["z2"].to_numpy(), s=size,
                   color=digit_colour(digit), edgecolors="none", alpha=0.85)
        digits.add(digit)
    ax.set_xlim(-limits, limits)
    ax.set_ylim(-limits, limits)
    ax.set_aspect("equal")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return digits


def digit_legend(owner: Any, digits: set[int], class_names: Sequence[str] | None = None) -> None:
    """One legend of class colours, outside the data, with markers big enough to read; each
    class is named by `class_names[label]` when given (T-shirt/top), else by its number."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    def name(label: int) -> str:
        return class_names[label] if class_names and label < len(class_names) else str(label)

    handles = [Line2D([], [], marker="o", linestyle="", markersize=5, label=name(digit),
                      color=digit_colour(digit)) for digit in sorted(digits)]
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


def draw_grid(ax: Any, images: np.ndarray) -> None:
    """Show decoded images as one tiled picture, one image pixel per data pixel, drawn
    without smoothing (vector outputs embed it at that resolution); z_1 grows rightwards,
    z_2 upwards."""
    images = np.asarray(images, dtype=float)
    grid_size = isqrt(images.shape[0])
    if grid_size * grid_size != images.shape[0]:
        raise ValueError(f"need a square number of images, got {images.shape[0]}")
    ax.imshow(compose_grid(images, grid_size), cmap=GRID_COLORMAP, vmin=0.0, vmax=1.0,
              interpolation="none")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(r"$z_1$ increasing $\rightarrow$")
    ax.set_ylabel(r"$z_2$ increasing $\rightarrow$")
