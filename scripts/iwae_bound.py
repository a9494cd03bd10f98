"""Importance-weighted estimate of one trained VAE's test log-likelihood (K from the config),
and the -ELBO from the same draws: per test image (for standard errors and paired
differences) and averaged over the test set."""

import time

from prml_pipeline.artifacts import load_arrays, save_arrays, save_json
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.vae.iwae import per_image_bounds
from prml_pipeline.sheet.vae.weights import load_model


def main(smk):
    cfg = smk.params.cfg
    model = load_model(smk.input.weights)
    test = load_arrays(smk.input.test, required=("images",))
    start = time.perf_counter()
    bounds = per_image_bounds(model, test["images"], cfg["samples"], seed=cfg["eval_seed"])
    seconds = time.perf_counter() - start
    n = len(test["images"])
    summary = {"samples": cfg["samples"], "n_test": n}
    for key, values in bounds.items():
        summary[f"test_{key}"] = float(values.mean())
        # standard error of the mean over the test images
        summary[f"test_{key}_se"] = float(values.std(ddof=1) / n ** 0.5) if n > 1 else None
    print(f"-IWAE bound, K = {cfg['samples']}: {summary['test_neg_iwae']:.3f} nats per image, "
          f"-ELBO from the same draws {summary['test_neg_elbo']:.3f} ({seconds:.1f} s)")
    save_json(smk.output.json, summary)
    save_arrays(smk.output.per_image, **bounds)
    return {"seconds": round(seconds, 3)}


run_step(snakemake, main)
