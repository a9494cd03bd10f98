"""Train one VAE (CUDA when available, else CPU), resuming from its last epoch checkpoint, and
record what the job used of the machine (runinfo.json's `hardware`, see docs/cluster.md)."""

import os
import shutil
import socket
import sys
from pathlib import Path

from prml_pipeline.artifacts import load_arrays, save_json
from prml_pipeline.errors import ConfigError
from prml_pipeline.runs.hardware import HardwareMonitor
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.vae.loss import mean_negative_elbo
from prml_pipeline.sheet.vae.train import TrainSettings, train_vae
from prml_pipeline.sheet.vae.weights import save_weights


def main(smk):
    with HardwareMonitor() as usage:
        runinfo = train_and_save(smk, device=usage.device)
    runinfo["hardware"] = usage.figures
    save_json(smk.output.runinfo, runinfo)
    shutil.rmtree(smk.params.checkpoint_dir, ignore_errors=True)
    return runinfo


def train_and_save(smk, device):
    """Train, evaluate and save the model on `device`; returns the run's facts (runinfo)."""
    settings = TrainSettings.from_config(smk.params.cfg, name=smk.wildcards.model)
    train = load_arrays(smk.input.train, required=("images",))
    test = load_arrays(smk.input.test, required=("images",))
    if settings.batch_size > len(train["images"]):
        raise ConfigError(
            f"config key 'vae.batch_size' is {settings.batch_size}, more than the "
            f"{len(train['images'])} training images of dataset "
            f"'{smk.params.cfg['dataset']}': an epoch "
            f"would be a single partial step. Set vae.batch_size to at most "
            f"{len(train['images'])}."
        )
    checkpoint_dir = Path(smk.params.checkpoint_dir)
    result = train_vae(train["images"], settings, device=device, threads=smk.threads,
                       checkpoint_dir=checkpoint_dir, progress_file=sys.stderr)
    neg_elbo = mean_negative_elbo(result.model, test["images"], settings.batch_size,
                                  seed=settings.eval_seed)
    save_weights(result.model, smk.output.weights)
    # metrics.json holds only what the seed determines; timings and machine go to runinfo.json.
    save_json(smk.output.metrics, {
        "epochs": settings.epochs,
        "epoch_train_neg_elbo": result.epoch_losses,
        "test_neg_elbo": neg_elbo,
        "n_train": len(train["images"]),
        "n_test": len(test["images"]),
    })
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    return {
        "device": result.device,
        "threads": smk.threads,
        "epoch_seconds": result.epoch_seconds,
        "train_seconds": sum(result.epoch_seconds),
        "resumed_from_epoch": result.resumed_from_epoch,
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        # A task of a job array: "<array job id>_<task id>", as squeue and sacct name it.
        "slurm_array_task": (f"{array_job}_{os.environ.get('SLURM_ARRAY_TASK_ID')}"
                             if array_job else None),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


run_step(snakemake, main)
