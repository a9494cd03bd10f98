"""Decode an evenly spaced inverse-CDF grid of latents with one trained VAE (Fig. 7)."""

from prml_pipeline.artifacts import save_arrays
from prml_pipeline.provenance import run_step
from prml_pipeline.vae import decode_grid, load_model


def main(smk):
    cfg = smk.params.cfg
    model = load_model(smk.input.weights, cfg["hidden"], cfg["full_covariance"],
                       cfg["latent_dim"])
    low, high = cfg["grid_quantiles"]
    save_arrays(smk.output.arrays, images=decode_grid(model, cfg["grid_size"], low, high))


run_step(snakemake, main)
