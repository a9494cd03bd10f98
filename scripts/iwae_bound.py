"""Importance-weighted estimate of one trained VAE's test log-likelihood (K from the config)."""

import time

from prml_pipeline.artifacts import load_arrays, save_json
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.vae.iwae import negative_iwae_bound
from prml_pipeline.sheet.vae.weights import load_model


def main(smk):
    cfg = smk.params.cfg
    model = load_model(smk.input.weights)
    test = load_arrays(smk.input.test, required=("images",))
    start = time.perf_counter()
    bound = negative_iwae_bound(model, test["images"], cfg["samples"], seed=cfg["eval_seed"])
    seconds = time.perf_counter() - start
    print(f"-IWAE bound, K = {cfg['samples']}: {bound:.3f} nats per image ({seconds:.1f} s)")
    save_json(smk.output.json, {"samples": cfg["samples"], "test_neg_iwae": bound,
                                "n_test": len(test["images"])})
    return {"seconds": round(seconds, 3)}


run_step(snakemake, main)
