"""One Bayesian-linear-regression experiment: data, posterior, and the two plotted grids."""

from prml_pipeline.artifacts import save_arrays
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.regression import run_experiment


def main(smk):
    cfg = smk.params.cfg
    arrays = run_experiment(
        x_mean=cfg["x_mean"],
        x_var=cfg["x_var"],
        theta=cfg["theta"],
        noise_var=cfg["noise_var"],
        target_var=cfg["target_var"],
        n_samples=cfg["n_samples"],
        seed=cfg["seed"],
        grid_limit=cfg["grid_limit"],
        grid_resolution=cfg["grid_resolution"],
    )
    save_arrays(smk.output.arrays, **arrays)


run_step(snakemake, main)
