"""Fig. 5: conditionals p(x2 | x1 = value) with their new mixing coefficients (Bishop 9.10)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled

SHOWS = ("conditionals p(x2 | x1) of the mixture at each value of "
         "config.mixture.condition_on, with the new mixing coefficients (Bishop 9.10)")


def spec(ctx: Any) -> dict[str, Any]:
    return {
        "inputs": {"conditionals": [f"results/mixture/conditional_x1={value}.npz"
                                    for value in ctx.conditions]},
        "plot": {"xlim": ctx.config["plots"]["conditional_xlim"]},
    }


@styled
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
    import seaborn as sns

    if not conditionals:
        raise ValueError("plot_conditionals needs at least one conditional")
    fig, axs = pyplot().subplots(ncols=len(conditionals), sharey=True, squeeze=False,
                                 figsize=(PAGE_WIDTH, 2.6))
    sizes = set()
    for ax, cond in zip(axs[0], conditionals, strict=True):
        samples = np.asarray(cond["samples"], dtype=float).ravel()
        sizes.add(samples.size)
        sns.kdeplot(x=samples, ax=ax, fill=True, alpha=0.25, linewidth=1.2)
        weights = ", ".join(f"{w:.2f}" for w in cond["weights"])
        ax.set_title(f"$x_1 = {cond['value']:g}$\nmixing coefficients {weights}")
        ax.set_xlabel("$x_2$")
        ax.set_xlim(xlim)
    if suptitle is None:
        count = f"{sizes.pop()} samples" if len(sizes) == 1 else "Samples"
        suptitle = f"{count} from the conditioned Gaussian mixture model (KDE)"
    fig.suptitle(suptitle)
    save_figure(fig, path, dpi)


def draw(inputs: Any, settings: dict[str, Any], path: PathLike) -> None:
    conditionals = []
    for file in inputs.conditionals:
        arrays = load_arrays(file, required=("value", "weights", "samples"))
        conditionals.append({"value": float(arrays["value"]),
                             "weights": arrays["weights"].tolist(),
                             "samples": arrays["samples"].ravel()})
    plot_conditionals(conditionals, path, dpi=settings["dpi"], xlim=settings["xlim"])
