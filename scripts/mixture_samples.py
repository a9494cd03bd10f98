"""Samples of the Gaussian mixture (Fig. 4)."""

from prml_pipeline.artifacts import save_arrays
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.mixture import sample_mixture


def main(smk):
    cfg = smk.params.cfg
    samples, components = sample_mixture(
        cfg["weights"], cfg["means"], cfg["covariances"], cfg["n_samples"], cfg["seed"]
    )
    save_arrays(smk.output.arrays, samples=samples, components=components)


run_step(snakemake, main)
