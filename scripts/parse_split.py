"""Parse one split's IDX files and cache the binarized images (pixel >= threshold) and labels."""

import numpy as np

from prml_pipeline.artifacts import save_arrays
from prml_pipeline.errors import ArtifactError
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.data import binarize, binarize_threshold, read_idx


def main(smk):
    images, labels = read_idx(smk.input.images), read_idx(smk.input.labels)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ArtifactError(
            f"{smk.input.images} and {smk.input.labels} do not form a dataset split: images "
            f"{images.shape}, labels {labels.shape}. Remedy: delete both and rerun.",
            smk.input.images,
        )
    mean = smk.params.cfg["normalize_mean"]
    save_arrays(smk.output.arrays, images=binarize(images, mean), labels=labels.astype(np.uint8))
    return {"n_images": len(images), "threshold": binarize_threshold(mean)}


run_step(snakemake, main)
