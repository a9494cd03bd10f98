"""A preempted training job on the local test cluster (.ci/slurm-up, docs/cluster.md).

The SLURM profile submits every job requeueable (`slurm-requeue`; the test cluster's
JobRequeue=0 makes that the only way). The test requeues a running training job with
`scontrol requeue` once it has written its first epoch checkpoint, as SLURM does to a preempted
job: the job must run again, say in its log where it resumed, and end with weights
byte-identical to an uninterrupted local run's.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import (
    CLUSTER_TEST,
    FAST_POLLING,
    REPO,
    SNAKEMAKE,
    IdxServer,
    make_tiny_dataset,
    server_config,
    snakemake,
)

pytestmark = CLUSTER_TEST

MODEL, SEED, EPOCHS = "large", 42, 20
TARGET = f"results/vae/{MODEL}/seed{SEED}/weights.pt"
CHECKPOINT = f"results/checkpoints/{MODEL}/seed{SEED}/checkpoint.pt"
RULE_LOG = f"results/logs/train_vae/{MODEL}/seed{SEED}.log"
# 6000 training images: an epoch of the large model takes about half a second on one core, so
# the job is still training, for about ten seconds, when the requeue follows its first checkpoint.
N_TRAIN = 6000


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def job_fields(job_id: str) -> dict[str, str]:
    line = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id],
                          capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"(?:^|\s)([\w/:]+)=(\S*)", line))


def wait_for(condition, what: str, timeout: float, process: subprocess.Popen | None = None):
    """Poll `condition` until it returns something true; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"snakemake ended ({process.returncode}) before {what}:\n{output[-4000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def training_job_id() -> str | None:
    """The SLURM id of the running training job (the executor's comment names its wildcards)."""
    listing = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"],
                             capture_output=True, text=True, check=True).stdout
    return next((line.split()[0] for line in listing.splitlines()
                 if line.endswith(f"rule_train_vae_wildcards_{MODEL}_{SEED}")), None)


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> tuple[Path, ...]:
    """A mirror with a larger tiny dataset, and the config of one longer training run."""
    root = tmp_path_factory.mktemp("requeue_data")
    md5s = make_tiny_dataset(root / "mirror", n_train=N_TRAIN, n_test=200, seed=1)
    with IdxServer(root / "mirror") as server:
        longer = root / "longer.yaml"
        tiny = yaml.safe_load((REPO / "tests/data/tiny.yaml").read_text())
        model = {**tiny["vae"]["models"][MODEL], "epochs": EPOCHS}
        longer.write_text(yaml.safe_dump({"vae": {"models": {MODEL: model}}}))
        yield (REPO / "tests/data/tiny.yaml", server_config(root / "server.yaml", server, md5s),
               longer)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, configs) -> Path:
    workdir = tmp_path_factory.mktemp("uninterrupted")
    snakemake(workdir, "--cores", "1", TARGET, configfiles=configs)
    return workdir


@pytest.fixture(scope="module")
def requeued(tmp_path_factory, configs, uninterrupted) -> tuple[Path, str, str, int]:
    """The same training through SLURM, requeued after its first checkpoint.

    Returns (workdir, snakemake's output, the SLURM job id, the epoch at the requeue).
    """
    workdir = tmp_path_factory.mktemp("requeued")
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--profile", str(REPO / "profiles/slurm"), *FAST_POLLING, TARGET,
               "--configfile", *map(str, configs)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        checkpoint = workdir / CHECKPOINT
        wait_for(checkpoint.is_file, "the first epoch checkpoint", 300, process)
        job_id = wait_for(training_job_id, "the running training job", 60, process)
        subprocess.run(["scontrol", "requeue", job_id], check=True)
        epochs_done = torch_epoch(checkpoint)
        # SLURM holds a requeued job for about two minutes before it may start again; release
        # it as soon as it is back in the queue.
        wait_for(lambda: job_fields(job_id)["JobState"] == "PENDING", "the job to requeue", 60)
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
        output, _ = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output[-4000:]
    return workdir, output, job_id, epochs_done


def torch_epoch(checkpoint: Path) -> int:
    """The epoch a checkpoint was saved after."""
    import torch

    return int(torch.load(checkpoint, weights_only=True, map_location="cpu")["epoch"])


def test_the_profile_submits_training_requeueable(requeued):
    _, _, job_id, _ = requeued
    job = job_fields(job_id)
    assert job["Requeue"] == "1"
    assert job["Restarts"] == "1"
    assert job["JobState"] == "COMPLETED"


def test_the_requeued_job_resumed_from_its_last_checkpoint(requeued):
    workdir, _, job_id, epochs_done = requeued
    assert 1 <= epochs_done < EPOCHS
    log = (workdir / RULE_LOG).read_text()
    resumed = re.findall(r"resuming from epoch (\d+) \(", log)
    assert len(resumed) == 1 and epochs_done <= int(resumed[0]) < EPOCHS, log[-2000:]
    runinfo = json.loads((workdir / f"results/vae/{MODEL}/seed{SEED}/runinfo.json").read_text())
    assert runinfo["resumed_from_epoch"] == int(resumed[0])
    assert runinfo["slurm_job_id"] == job_id
    assert len(runinfo["epoch_seconds"]) == EPOCHS
    # The SLURM log keeps both attempts (--open-mode=append): the cancelled one and the rerun.
    slurm_log = Path(job_fields(job_id)["StdOut"]).read_text()
    assert re.search(rf"JOB {job_id} ON \S+ CANCELLED AT \S+ DUE TO JOB REQUEUE", slurm_log)
    assert slurm_log.count("localrule train_vae:") == 2
    assert not (workdir / CHECKPOINT).exists()  # removed once the weights are saved


def test_the_requeued_job_ends_bit_identical_to_an_uninterrupted_run(requeued, uninterrupted):
    workdir, _, _, _ = requeued
    for name in ("weights.pt", "metrics.json"):
        path = f"results/vae/{MODEL}/seed{SEED}/{name}"
        assert sha256(workdir / path) == sha256(uninterrupted / path), path


def test_the_training_record_holds_what_the_job_used(requeued):
    workdir, _, _, _ = requeued
    record = json.loads(
        (workdir / f"results/provenance/train_vae/{MODEL}/seed{SEED}.json").read_text())
    hardware = record["extra"]["hardware"]
    assert hardware["device"] == "cpu"  # the fake GPUs are /dev/null: torch sees none
    assert 0 < hardware["cpu_seconds"] <= 1.1 * hardware["wall_seconds"] + 1
    assert hardware["peak_rss_mib"] > 100  # torch alone takes more
    assert hardware["cuda"] is None
    assert hardware["nvml"] == {"available": False, "reason": "the job ran on the CPU"}
