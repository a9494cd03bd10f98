"""Samples of the Gaussian mixture (Fig. 4)."""

from prml_pipeline.artifacts import save_arrays
from prml_pipeline.mixture import sample_mixture
from prml_pipeline.provenance import run_step


def main(smk):
    cfg = smk.params.cfg
    samples, components = sample_mixture(
        cfg["weights"], cfg["means"], cfg["covariances"], cfg["n_samples"], cfg["seed"]
    )
    save_arrays(smk.output.arrays, samples=samples, components=components)


run_step(snakemake, main)
