"""Replicates as a SLURM job array on the local test cluster (.ci/slurm-up, docs/cluster.md).

`vae.replicates: 3` with `--slurm-array-jobs train_vae`: the executor submits the training jobs
of every (model, seed) as tasks of job arrays (one sbatch call per batch of ready jobs) instead
of one job each; every task must ask for a GPU and train its own (model, seed), with weights
and metrics equal to a local run's. Only the training outputs of two models are asked for (and
the data they read), to keep the test short.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest
import yaml
from helpers import CLUSTER_TEST, FAST_POLLING, REPO, snakemake, tiny_configs

pytestmark = CLUSTER_TEST

MODELS = ("medium", "small")  # two of the four, to keep the test short
SEEDS = (42, 43, 44)  # vae.replicates: 3
RUNS = sorted((model, seed) for model in MODELS for seed in SEEDS)
TARGETS = [f"results/vae/{model}/seed{seed}/{name}" for model, seed in RUNS
           for name in ("weights.pt", "metrics.json")]


@pytest.fixture(scope="module")
def array_run(tmp_path_factory, tiny_server):
    """The tiny workflow with three replicates, training submitted as job arrays; then the same
    locally. Returns (array workdir, snakemake's output, SLURM's records of the tasks, local
    workdir)."""
    server, md5s = tiny_server
    replicates = tmp_path_factory.mktemp("array_config") / "replicates.yaml"
    replicates.write_text(yaml.safe_dump({"vae": {"replicates": len(SEEDS)}}))
    runs = {}
    # The executor holds back array-selected jobs until every pending job of the rule has
    # reached it, and Snakemake hands it at most --jobs jobs and --cores threads at a time:
    # both must cover all six training jobs, or the run waits forever (docs/cluster.md).
    array_args = ("--profile", str(REPO / "profiles/slurm"), *FAST_POLLING,
                  "--slurm-array-jobs", "train_vae", "--jobs", "100", "--cores", "100")
    for name, args in (("array", array_args),
                       ("local", ("--cores", "2"))):
        workdir = tmp_path_factory.mktemp(name)
        done = snakemake(workdir, *args, *TARGETS,
                         configfiles=(*tiny_configs(workdir, server, md5s), replicates))
        runs[name] = (workdir, done.stdout + done.stderr)
    workdir, output = runs["array"]
    run_id = re.search(r"SLURM run ID: ([0-9a-f-]+)", output).group(1)
    listing = subprocess.run(["scontrol", "--oneliner", "show", "job"], capture_output=True,
                             text=True, check=True).stdout
    tasks = [fields for line in listing.splitlines()
             if (fields := dict(re.findall(r"(?:^|\s)([\w/:]+)=(\S*)", line)))
             .get("JobName") == run_id]
    return workdir, output, tasks, runs["local"][0]


def test_training_jobs_go_as_tasks_of_job_arrays(array_run):
    _, output, tasks, _ = array_run
    submissions = re.findall(r"Submitted array job with Snakemake IDs (\S+) and SLURM job ID "
                             r"(\d+)\. The individual task IDs are (\d+)-(\d+)\.", output)
    assert submissions, output[-3000:]
    assert "has been submitted with SLURM jobid" not in output  # no job went on its own
    sizes = [int(last) - int(first) + 1 for _, _, first, last in submissions]
    assert sum(sizes) == len(RUNS)
    assert len(tasks) == len(RUNS)
    arrays = {array_id for _, array_id, _, _ in submissions}
    assert {task["ArrayJobId"] for task in tasks} == arrays
    for task in tasks:
        assert task["JobState"] == "COMPLETED", task
        gpu_request = task.get("TresPerJob") or task.get("TresPerNode", "")
        assert re.fullmatch(r"gres:gpu(:\w+)?:1", gpu_request), task


def test_each_task_trained_its_own_model_and_seed(array_run):
    workdir, _, tasks, _ = array_run
    by_job = {task["JobId"]: task for task in tasks}
    seen = set()
    for model, seed in RUNS:
        runinfo = json.loads(
            (workdir / f"results/vae/{model}/seed{seed}/runinfo.json").read_text())
        task = by_job[runinfo["slurm_job_id"]]
        assert runinfo["slurm_array_task"] == f"{task['ArrayJobId']}_{task['ArrayTaskId']}"
        assert runinfo["cuda_visible_devices"] in ("0", "1")
        seen.add(runinfo["slurm_job_id"])
    assert seen == set(by_job)  # one task per (model, seed), none twice


def test_array_weights_and_metrics_equal_a_local_runs(array_run):
    workdir, _, _, local = array_run
    for target in TARGETS:
        assert (hashlib.sha256((workdir / target).read_bytes()).hexdigest()
                == hashlib.sha256((local / target).read_bytes()).hexdigest()), target
