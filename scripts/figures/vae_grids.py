"""Fig. 7: decoded inverse-CDF latent grids of the three VAE sizes."""

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.plotting import plot_latent_grids
from prml_pipeline.provenance import run_step


def main(smk):
    cfg = smk.params.cfg
    panels = [
        {"title": title, "images": load_arrays(path, required=("images",))["images"]}
        for title, path in zip(cfg["titles"], smk.input.grids, strict=True)
    ]
    plot_latent_grids(panels, smk.output.png, dpi=cfg["dpi"])


run_step(snakemake, main)
