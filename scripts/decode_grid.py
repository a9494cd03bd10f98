"""Decode an evenly spaced inverse-CDF grid of latents with one trained VAE (Fig. 7)."""

from prml_pipeline.artifacts import save_arrays
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.vae.model import decode_grid
from prml_pipeline.sheet.vae.weights import load_model


def main(smk):
    cfg = smk.params.cfg
    model = load_model(smk.input.weights)
    low, high = cfg["grid_quantiles"]
    save_arrays(smk.output.arrays, images=decode_grid(model, cfg["grid_size"], low, high))


run_step(snakemake, main)
