"""Train one VAE (CUDA when available, else CPU), resuming from its last epoch checkpoint."""

import os
import shutil
import socket
import sys
from pathlib import Path

from prml_pipeline.artifacts import load_arrays, save_json
from prml_pipeline.config import ConfigError
from prml_pipeline.provenance import run_step
from prml_pipeline.train import save_weights, test_negative_elbo, train_vae


def main(smk):
    cfg = smk.params.cfg
    train = load_arrays(smk.input.train, required=("images",))
    test = load_arrays(smk.input.test, required=("images",))
    if cfg["batch_size"] > len(train["images"]):
        raise ConfigError(
            f"config key 'vae.batch_size' is {cfg['batch_size']}, more than the "
            f"{len(train['images'])} training images of dataset '{cfg['dataset']}': an epoch "
            f"would be a single partial step. Set vae.batch_size to at most "
            f"{len(train['images'])}."
        )
    checkpoint_dir = Path(smk.params.checkpoint_dir)
    result = train_vae(
        train["images"],
        hidden=cfg["hidden"],
        full_covariance=cfg["full_covariance"],
        epochs=cfg["epochs"],
        batch_size=cfg["batch_size"],
        learning_rate=cfg["learning_rate"],
        seed=cfg["seed"],
        latent_dim=cfg["latent_dim"],
        threads=smk.threads,
        checkpoint_dir=checkpoint_dir,
        progress_file=sys.stderr,
    )
    neg_elbo = test_negative_elbo(result.model, test["images"], cfg["batch_size"],
                                  seed=cfg["eval_seed"])
    save_weights(result.model, smk.output.weights)
    # metrics.json holds only what the seed determines; timings and machine go to runinfo.json.
    save_json(smk.output.metrics, {
        "epochs": cfg["epochs"],
        "epoch_train_neg_elbo": result.epoch_losses,
        "test_neg_elbo": neg_elbo,
        "n_train": len(train["images"]),
        "n_test": len(test["images"]),
    })
    runinfo = {
        "device": result.device,
        "threads": smk.threads,
        "epoch_seconds": result.epoch_seconds,
        "train_seconds": sum(result.epoch_seconds),
        "resumed_from_epoch": result.resumed_from_epoch,
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    save_json(smk.output.runinfo, runinfo)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return runinfo


run_step(snakemake, main)
