"""Faults a user meets: a corrupt cached artifact, and two runs in one directory."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from helpers import REPO, SNAKEMAKE, copy_run, snakemake, tiny_configs

pytestmark = pytest.mark.slow


def test_corrupt_cached_arrays_give_a_clear_error(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    arrays = workdir / "results/data/test.npz"
    arrays.write_bytes(arrays.read_bytes()[:1000])

    audit = subprocess.run([sys.executable, "-m", "prml_pipeline", "audit", "results"],
                           cwd=workdir, capture_output=True, text=True)
    assert audit.returncode == 1
    assert "altered    results/data/test.npz  (rule parse_split)" in audit.stdout

    # The truncated file is newer than what reads it, so those jobs rerun and meet it: its
    # bytes no longer match the record, so no job reads it.
    done = snakemake(workdir, "--cores", "1", "results/vae/small/latents.npz",
                     snakefile=snakefile, configfiles=configs, check=False)
    assert done.returncode != 0
    expected = ("results/data/test.npz does not match its provenance record",
                "rule parse_split wrote it",
                "Remedy: run `snakemake --cores all --forcerun parse_split`")
    for text in expected:
        assert text in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr.split("Logfile")[0]


def test_an_unrecorded_corrupt_file_gives_a_clear_error(tiny_run, tmp_path):
    """Without a record to compare with, the reader itself names the damage."""
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    arrays = workdir / "results/data/test.npz"
    arrays.write_bytes(arrays.read_bytes()[:1000])
    (workdir / "results/provenance/parse_split/test.json").unlink()
    done = snakemake(workdir, "--cores", "1", "results/vae/small/latents.npz",
                     snakefile=snakefile, configfiles=configs, check=False)
    assert done.returncode != 0
    assert "results/data/test.npz is truncated or corrupt" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr.split("Logfile")[0]


def test_corrupt_weights_give_a_clear_error(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    weights = workdir / "results/vae/medium/seed42/weights.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    done = snakemake(workdir, "--cores", "1", "--forcerun", "decode_grid",
                     "results/vae/medium/grid.npz", snakefile=snakefile, configfiles=configs,
                     check=False)
    assert done.returncode != 0
    assert ("results/vae/medium/seed42/weights.pt does not match its provenance record"
            in done.stderr)
    assert "--forcerun train_vae" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr.split("Logfile")[0]


def test_a_second_snakemake_in_the_same_directory_is_refused(tiny_server, tmp_path):
    server, md5s = tiny_server
    # Enough epochs that the first run still holds its lock when the second starts.
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump({"vae": {"models": {"large": {
        "title": "Large", "hidden": [300, 60, 10], "epochs": 150, "full_covariance": False}}}}))
    configs = (*tiny_configs(tmp_path, server, md5s), slow)
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
               "--cores", "1", "results/vae/large/grid.npz", "--configfile", *map(str, configs)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        locks = tmp_path / ".snakemake/locks"
        while not (locks.is_dir() and any(locks.iterdir())):
            assert time.monotonic() < deadline, "the first run never took its lock"
            assert first.poll() is None, first.communicate()
            time.sleep(0.1)
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        out, err = first.communicate(timeout=600)
    assert second.returncode != 0
    assert "Directory cannot be locked" in second.stderr + second.stdout
    assert first.returncode == 0, err[-3000:]
    assert (tmp_path / "results/vae/large/grid.npz").is_file()
    check = snakemake(tmp_path, "-n", "results/vae/large/grid.npz",
                      snakefile=REPO / "Snakefile", configfiles=configs)
    assert "Nothing to be done" in check.stdout



def slow_large_config(directory, epochs):
    path = directory / "slow.yaml"
    path.write_text(yaml.safe_dump({"vae": {"models": {"large": {
        "title": "Large", "hidden": [300, 60, 10], "epochs": epochs,
        "full_covariance": False}}}}))
    return path


def test_a_killed_training_job_resumes_to_identical_weights(tiny_server, tmp_path):
    server, md5s = tiny_server
    target = "results/vae/large/seed42/weights.pt"
    runs = {}
    for name in ("killed", "clean"):
        workdir = tmp_path / name
        workdir.mkdir()
        runs[name] = (workdir, (*tiny_configs(workdir, server, md5s),
                                slow_large_config(workdir, 60)))

    workdir, configs = runs["killed"]
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "1", target, "--configfile", *map(str, configs)]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    checkpoint = workdir / "results/checkpoints/large/seed42/checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.is_file():
        assert job.poll() is None, "training ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    time.sleep(0.3)  # a few more epochs
    os.killpg(job.pid, signal.SIGKILL)  # snakemake and the training job, without warning
    job.wait()
    assert not (workdir / target).exists(), "the job finished before it was killed"

    # A hard kill leaves Snakemake's lock behind; Snakemake's message says to unlock first.
    snakemake(workdir, "--unlock", configfiles=configs)
    snakemake(workdir, "--cores", "1", target, configfiles=configs)
    log = (workdir / "results/logs/train_vae/large/seed42.log").read_text()
    assert "resuming from epoch" in log
    assert not checkpoint.exists(), "the checkpoint outlived the finished job"

    clean_dir, clean_configs = runs["clean"]
    snakemake(clean_dir, "--cores", "1", target, configfiles=clean_configs)
    weights = [hashlib.sha256((directory / target).read_bytes()).hexdigest()
               for directory in (workdir, clean_dir)]
    assert weights[0] == weights[1]
