"""Going back costs nothing: with --cache, a setting changed back or a dataset switched back
restores the expensive results from the output cache instead of recomputing them."""

from __future__ import annotations

import hashlib
import stat

import pytest
import yaml
from helpers import copy_run, snakemake

pytestmark = pytest.mark.slow

MEDIUM = {"title": "Medium VAE (100, 10)", "hidden": [100, 10], "full_covariance": False}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_changing_epochs_and_back_restores_the_training_from_the_cache(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    weights = workdir / "results/vae/medium/seed42/weights.pt"
    log = workdir / "results/logs/train_vae/medium/seed42.log"
    outputs = {}
    for step, epochs in enumerate((3, 2, 3)):
        change = workdir / f"epochs{step}.yaml"
        change.write_text(yaml.safe_dump({"vae": {"models": {"medium": {**MEDIUM,
                                                                         "epochs": epochs}}}}))
        done = snakemake(workdir, "--cores", "2", "--cache", snakefile=snakefile,
                         configfiles=(*configs, change))
        # A training job writes its progress to the log; a restored one leaves it empty.
        outputs[step] = (sha256(weights), log.stat().st_size > 0, done.stdout + done.stderr)
    assert outputs[0][1] and outputs[1][1], "the first two settings train"
    assert outputs[0][0] != outputs[1][0]
    weights_again, trained_again, output = outputs[2]
    assert not trained_again, "going back to 3 epochs retrained"
    assert f"Symlinking output file {weights.relative_to(workdir)} from cache" in output
    assert weights_again == outputs[0][0]
    # A cache entry is read-only for everyone (cache.mode: all), never Snakemake's 0666.
    assert weights.is_symlink()
    assert stat.S_IMODE(weights.resolve().stat().st_mode) == 0o444
    assert "Restored train_vae from output cache entry" in output
    assert json_value(workdir / "results/vae/medium/seed42/metrics.json", "epochs") == 3


def json_value(path, key):
    return yaml.safe_load(path.read_text())[key]


def test_switching_dataset_and_back_restores_every_cached_result(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    server = yaml.safe_load(configs[1].read_text())
    other = workdir / "other.yaml"  # the same files under a second dataset name
    other.write_text(yaml.safe_dump({"datasets": {
        "other": {**server["datasets"]["mnist"], "name": "Other", "item_noun": "images"}}}))
    runs = {}
    for dataset in ("other", "mnist", "other"):
        done = snakemake(workdir, "--cores", "2", "--cache", "--config", f"dataset={dataset}",
                         snakefile=snakefile, configfiles=(*configs, other))
        runs.setdefault(dataset, []).append(
            (done.stdout + done.stderr, {path: sha256(workdir / path) for path in (
                "results/vae/large/seed42/weights.pt", "results/data/train.npz")}))
    (first, first_files), (back, back_files) = runs["other"]
    assert back_files == first_files
    assert "Symlinking output file results/vae/large/seed42/weights.pt from cache" in back
    assert "Symlinking output file results/data/train.npz from cache" in back
