"""Fig. 6: latent means of test-set images for the small, medium and large VAE."""

from prml_pipeline.artifacts import load_arrays
from prml_pipeline.plotting import plot_latents
from prml_pipeline.provenance import run_step


def main(smk):
    cfg = smk.params.cfg
    points = cfg["points"]
    panels = []
    for title, path in zip(cfg["titles"], smk.input.latents, strict=True):
        arrays = load_arrays(path, required=("latents", "labels"))
        panels.append({"title": title, "latents": arrays["latents"][:points],
                       "labels": arrays["labels"][:points]})
    plot_latents(panels, smk.output.png, dpi=cfg["dpi"], limits=cfg["limit"],
                 items=cfg["items"], class_names=cfg["class_names"])


run_step(snakemake, main)
