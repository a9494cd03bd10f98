"""The mixture conditioned on x1 = value: new mixing coefficients, components, samples of x2."""

import numpy as np

from prml_pipeline.artifacts import save_arrays
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.mixture import sample_conditional


def main(smk):
    cfg = smk.params.cfg
    result = sample_conditional(
        cfg["weights"], cfg["means"], cfg["covariances"],
        observed_value=[cfg["value"]], observed_dims=[0],
        n_samples=cfg["n_samples"], seed=cfg["seed"],
    )
    save_arrays(smk.output.arrays, value=np.float64(cfg["value"]), **result)


run_step(snakemake, main)
