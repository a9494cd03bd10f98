"""Latent means of every test-set image under one trained VAE (Fig. 6 reads these)."""

from prml_pipeline.artifacts import load_arrays, save_arrays
from prml_pipeline.provenance import run_step
from prml_pipeline.vae import latent_means, load_model


def main(smk):
    cfg = smk.params.cfg
    model = load_model(smk.input.weights, cfg["hidden"], cfg["full_covariance"],
                       cfg["latent_dim"])
    test = load_arrays(smk.input.test, required=("images", "labels"))
    save_arrays(smk.output.arrays, latents=latent_means(model, test["images"]),
                labels=test["labels"])


run_step(snakemake, main)
