"""Latent means of every test-set image under one trained VAE (Fig. 6 reads these)."""

from prml_pipeline.artifacts import load_arrays, save_arrays
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.vae.model import latent_means
from prml_pipeline.sheet.vae.weights import load_model


def main(smk):
    model = load_model(smk.input.weights)
    test = load_arrays(smk.input.test, required=("images", "labels"))
    save_arrays(smk.output.arrays, latents=latent_means(model, test["images"]),
                labels=test["labels"])


run_step(snakemake, main)
