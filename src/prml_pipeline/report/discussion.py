"""The VAE results as the report states them: statistics over test images and seeds, paired
differences between models, and the sentences of the discussion, each chosen from the data.

Conventions: -ELBO and -log p (IWAE) are in nats per test image, lower is better. A
difference "A − B" is A's value minus B's on the same test images: negative means A is
better. A difference is called real when it exceeds twice its standard error: over the test
images for one seed, over the seeds when there are several.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prml_pipeline.report.tables import (
    markdown_table,
    number,
    short_title,
    unbroken,
    word_list,
)

MEASURES = ("neg_elbo", "neg_iwae")


def measure_stats(per_seed: Sequence[np.ndarray]) -> dict[str, Any]:
    """Per-image values of one measure, one array per seed: the mean over seeds of the test
    means, the standard error over test images (mean over seeds), and the seed spread."""
    means = np.array([np.mean(values) for values in per_seed])
    errors = [np.std(values, ddof=1) / np.sqrt(len(values)) for values in per_seed]
    return {"mean": float(means.mean()), "se": float(np.mean(errors)), "n": len(per_seed),
            "sd": float(means.std(ddof=1)) if len(per_seed) > 1 else None}


def paired(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> dict[str, Any]:
    """A − B on the same images, seed r of A against seed r of B: the mean difference and
    its standard error (over images with one seed, over seeds with several)."""
    differences = [np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
                   for x, y in zip(a, b, strict=True)]
    per_seed = np.array([d.mean() for d in differences])
    if len(differences) > 1:
        se = float(per_seed.std(ddof=1) / np.sqrt(len(per_seed)))
    else:
        se = float(differences[0].std(ddof=1) / np.sqrt(len(differences[0])))
    return {"mean": float(per_seed.mean()), "se": se, "real": abs(per_seed.mean()) > 2 * se}


def with_error(stats: Mapping[str, Any], digits: int = 2) -> str:
    return f"{number(stats['mean'], digits)} ± {number(stats['se'], digits)}"


def comparison_table(pairs: Sequence[Sequence[str]], models: Mapping[str, Any],
                     per_image: Mapping[str, Mapping[str, Sequence[np.ndarray]]]) -> str:
    """One row per configured pair (A, B): epochs, and the paired A − B of each measure."""
    rows = []
    for a, b in pairs:
        cells = [paired(per_image[a][m], per_image[b][m]) for m in MEASURES]
        verdict = ("A better" if cells[1]["mean"] < 0 else "B better") if cells[1]["real"] \
            else "within 2 SE"
        rows.append((unbroken(short_title(models[a]["title"])),
                     unbroken(short_title(models[b]["title"])),
                     f"{models[a]['epochs']} / {models[b]['epochs']}",
                     *(unbroken(f"{number(c['mean'], 2, sign=True)} ± {number(c['se'], 2)}")
                       for c in cells), unbroken(verdict)))
    return markdown_table(["A", "B", "Epochs A / B", "A − B, −ELBO", "A − B, −IWAE",
                           "IWAE verdict"], rows, "lllrrl")


def trend_sentence(names: Sequence[str], titles: Mapping[str, str],
                   stats: Mapping[str, Mapping[str, Any]],
                   steps: Sequence[Mapping[str, Any]]) -> str:
    """How the −IWAE changes along the models in order of size, with each step's paired SE."""
    values = [f"{with_error(stats[n])} nats for the {titles[n]}" for n in names]
    gains = [f"{number(-s['mean'], 2)} (± {number(s['se'], 2)})" for s in steps]
    falling = all(s["mean"] < 0 for s in steps)
    rising = all(s["mean"] > 0 for s in steps)
    head = ("The estimate falls with every step in size" if falling else
            "The estimate rises with size" if rising else "Size does not order the models")
    return (f"{head}: {word_list(values)}; each step changes it by {word_list(gains)} nats "
            f"(paired over the same test images).")


def epochs_sentence(names: Sequence[str], models: Mapping[str, Any],
                    curves: Mapping[str, Sequence[float]]) -> str:
    """Whether training length differs between the models compared by size, and by how much
    the longest-trained model improved after the shortest training ended."""
    epochs = {n: int(models[n]["epochs"]) for n in names}
    if len(set(epochs.values())) == 1:
        return (f"All of them trained for {next(iter(epochs.values()))} epochs, so their "
                f"differences come from size alone.")
    short = min(names, key=lambda n: epochs[n])
    long = max(names, key=lambda n: epochs[n])
    curve = curves[long]
    at_short, last = curve[epochs[short] - 1], curve[-1]
    return (f"Size is confounded with training length: the {models[long]['title']} trained "
            f"for {epochs[long]} epochs, the {models[short]['title']} for {epochs[short]}. "
            f"Its training −ELBO went from {number(at_short, 2)} after epoch {epochs[short]} "
            f"to {number(last, 2)} after epoch {epochs[long]}, a gain of "
            f"{number(at_short - last, 2)} nats that the shorter runs never had the chance "
            f"to make.")


def covariance_sentences(full: str, diagonal: str, models: Mapping[str, Any],
                         stats: Mapping[str, Mapping[str, Mapping[str, Any]]],
                         per_image: Mapping[str, Mapping[str, Sequence[np.ndarray]]]) -> str:
    """The full-covariance model against the diagonal one of the same architecture: both
    measures, the ELBO-IWAE gap of each (how far q is from the posterior), and a reading of
    the result whatever its sign."""
    iwae = paired(per_image[full]["neg_iwae"], per_image[diagonal]["neg_iwae"])
    elbo = paired(per_image[full]["neg_elbo"], per_image[diagonal]["neg_elbo"])
    gap = {n: stats[n]["neg_elbo"]["mean"] - stats[n]["neg_iwae"]["mean"]
           for n in (full, diagonal)}
    f_title, d_title = models[full]["title"], models[diagonal]["title"]
    direction = "worse" if iwae["mean"] > 0 else "better"
    size = (f"{direction} than the {d_title} by {number(abs(iwae['mean']), 2)} ± "
            f"{number(iwae['se'], 2)} nats on the −IWAE "
            f"({number(elbo['mean'], 2, sign=True)} ± {number(elbo['se'], 2)} on the −ELBO)")
    if not iwae["real"]:
        reading = ("a difference within twice its standard error: on this test set the "
                   "richer posterior family neither helps nor hurts")
    elif direction == "better":
        reading = ("beyond twice its standard error, as a richer family of approximate "
                   "posteriors allows")
    else:
        reading = ("beyond twice its standard error. A full covariance only enlarges the "
                   "family of approximate posteriors, so the shortfall says that this "
                   "training run optimised it less well, not that the family is worse")
    return (f"With the same layers, the {f_title} scored {size}, {reading}. The gap between "
            f"−ELBO and −IWAE, which shrinks as q approaches the true posterior, is "
            f"{number(gap[full], 2)} nats for the full covariance and {number(gap[diagonal], 2)} "
            f"for the diagonal one.")


def seeds_sentence(seeds: Sequence[int], stats: Mapping[str, Mapping[str, Any]]) -> str:
    """What the uncertainties cover: the test images only, or the seeds too."""
    if len(seeds) == 1:
        return (f"Each model was trained once (seed {seeds[0]}), so every ± above is the "
                f"standard error over test images; how much a second training run would "
                f"move the numbers is not measured here (`vae.replicates` trains more).")
    spreads = [s["neg_iwae"]["sd"] for s in stats.values()]
    return (f"Each model was trained with {len(seeds)} seeds; the seed standard deviation of "
            f"the −IWAE lies between {number(min(spreads), 2)} and {number(max(spreads), 2)} "
            f"nats, and the differences above are judged against it.")


def latent_sentence(names: Sequence[str], titles: Mapping[str, str],
                    accuracy: Mapping[str, Mapping[str, Any]],
                    class_names: Sequence[str] | None) -> str:
    """Leave-one-out nearest-neighbour accuracy in each latent space, and the best and worst
    separated classes of the model that separates best."""
    def name(label: int) -> str:
        return class_names[label] if class_names and label < len(class_names) else str(label)

    shares = [f"{100 * accuracy[n]['overall']:.1f}% ({titles[n]})" for n in names]
    best = max(names, key=lambda n: accuracy[n]["overall"])
    per_class = accuracy[best]["per_class"]
    top = max(per_class, key=per_class.get)
    bottom = min(per_class, key=per_class.get)
    return (f"Measured in the latent means of all {accuracy[best]['n']} test images, a point's "
            f"nearest neighbour shares its label for {word_list(shares)}. In the "
            f"{titles[best]}, the best separated class is {name(top)} "
            f"({100 * per_class[top]:.0f}% of its points) and the worst {name(bottom)} "
            f"({100 * per_class[bottom]:.0f}%).")
