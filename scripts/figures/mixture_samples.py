"""Fig. 4: samples of the two-component Gaussian mixture."""

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.plotting import plot_mixture_samples
from prml_pipeline.provenance import run_step


def main(smk):
    cfg = smk.params.cfg
    samples = load_arrays(smk.input.samples, required=("samples",))["samples"]
    plot_mixture_samples(samples, smk.output.png, dpi=cfg["dpi"],
                         title=f"{len(samples)} samples from the Gaussian mixture")


run_step(snakemake, main)
