"""Fig. 3: log posterior and posterior-predictive variance for each regression experiment."""

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.plotting import plot_regression
from prml_pipeline.provenance import run_step

KEYS = ("axis", "log_posterior", "predictive_variance")


def main(smk):
    cfg = smk.params.cfg
    experiments = [
        {"title": title, **{key: arrays[key] for key in KEYS}}
        for title, arrays in zip(
            cfg["titles"],
            (load_arrays(path, required=KEYS) for path in smk.input.experiments),
            strict=True,
        )
    ]
    plot_regression(experiments, smk.output.png, dpi=cfg["dpi"], log_limits=cfg["log_limits"])


run_step(snakemake, main)
