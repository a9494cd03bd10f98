"""Fig. 8: latents and decoded grid of the full-covariance VAE."""

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.plotting import plot_full_covariance
from prml_pipeline.provenance import run_step


def main(smk):
    cfg = smk.params.cfg
    latents = load_arrays(smk.input.latents, required=("latents", "labels"))
    grid = load_arrays(smk.input.grid, required=("images",))
    points = cfg["points"]
    plot_full_covariance(latents["latents"][:points], latents["labels"][:points],
                         grid["images"], smk.output.png, dpi=cfg["dpi"], limits=cfg["limit"],
                         title=cfg["title"], items=cfg["items"],
                         class_names=cfg["class_names"])


run_step(snakemake, main)
