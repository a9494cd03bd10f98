"""Fig. 5: conditionals p(x2 | x1 = value) with their new mixing coefficients."""

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.plotting import plot_conditionals
from prml_pipeline.provenance import run_step


def main(smk):
    cfg = smk.params.cfg
    conditionals = []
    for path in smk.input.conditionals:
        arrays = load_arrays(path, required=("value", "weights", "samples"))
        conditionals.append({"value": float(arrays["value"]),
                             "weights": arrays["weights"].tolist(),
                             "samples": arrays["samples"].ravel()})
    plot_conditionals(conditionals, smk.output.png, dpi=cfg["dpi"], xlim=cfg["xlim"])


run_step(snakemake, main)
