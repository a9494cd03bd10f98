"""The workflow under the SLURM profile on the local test cluster (.ci/slurm-up, docs/cluster.md).

A replicates run (two seeds per model): each (model, seed) training job must go through sbatch
with a GPU request and run on one of the cluster's two fake GPUs; every other rule must stay on
the submitting node; the artifacts must equal a local run's.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from helpers import CLUSTER_TEST, FAST_POLLING, REPO, digests, snakemake, tiny_configs

pytestmark = CLUSTER_TEST

MODELS = sorted(yaml.safe_load((REPO / "tests/data/tiny.yaml").read_text())["vae"]["models"])
SEEDS = (42, 43)  # vae.seed and the replicate vae.replicates = 2 adds
RUNS = sorted(f"{model}_{seed}" for model in MODELS for seed in SEEDS)
@dataclass
class SlurmRun:
    workdir: Path
    output: str  # snakemake's stdout and stderr of the first run
    rerun_output: str
    jobs: dict[str, dict[str, str]]  # SLURM's record of each submitted job, by job id


def slurm_records(run_id: str) -> dict[str, dict[str, str]]:
    """`scontrol show job` of every job the run submitted (the executor names them by run ID).

    Finished jobs stay listed for MinJobAge seconds (an hour on the test cluster).
    """
    listing = subprocess.run(["scontrol", "--oneliner", "show", "job"], capture_output=True,
                             text=True, check=True).stdout
    jobs = {}
    for line in listing.splitlines():
        fields = dict(re.findall(r"(?:^|\s)([\w/:]+)=(\S*)", line))
        if fields.get("JobName") == run_id:
            jobs[fields["JobId"]] = fields
    return jobs


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, tiny_server) -> SlurmRun:
    """The repository's workflow on tiny data with the slurm profile, then once more."""
    server, md5s = tiny_server
    workdir = tmp_path_factory.mktemp("slurm_run")
    replicates = workdir / "replicates.yaml"
    replicates.write_text(yaml.safe_dump({"vae": {"replicates": len(SEEDS)}}))
    configs = (*tiny_configs(workdir, server, md5s), replicates)
    args = ("--profile", str(REPO / "profiles/slurm"), *FAST_POLLING)
    first = snakemake(workdir, *args, configfiles=configs)
    second = snakemake(workdir, *args, configfiles=configs)
    output = first.stdout + first.stderr
    run_id = re.search(r"SLURM run ID: ([0-9a-f-]+)", output).group(1)
    return SlurmRun(workdir, output, second.stdout + second.stderr, slurm_records(run_id))


def jobs_by_run(run: SlurmRun) -> dict[str, dict[str, str]]:
    """Each submitted job by "<model>_<seed>", from the comment the executor gives it."""
    return {job["Comment"].removeprefix("rule_train_vae_wildcards_"): job
            for job in run.jobs.values()}


def test_one_training_job_per_model_and_seed_each_asking_for_one_gpu(slurm_run):
    comments = sorted(job["Comment"] for job in slurm_run.jobs.values())
    assert comments == [f"rule_train_vae_wildcards_{run}" for run in RUNS]
    for job_id, job in slurm_run.jobs.items():
        assert job["JobState"] == "COMPLETED", job
        # --gpus=1 is recorded as TresPerJob, --gres=gpu:1 as TresPerNode.
        gpu_request = job.get("TresPerJob") or job.get("TresPerNode", "")
        assert re.fullmatch(r"gres:gpu(:\w+)?:1", gpu_request), (job_id, gpu_request)
    assert slurm_run.output.count("has been submitted with SLURM jobid") == len(RUNS)


def test_each_training_ran_inside_its_slurm_job_on_a_fake_gpu(slurm_run):
    for key, job in jobs_by_run(slurm_run).items():
        model, seed = key.rsplit("_", 1)
        run = slurm_run.workdir / f"results/vae/{model}/seed{seed}"
        runinfo = json.loads((run / "runinfo.json").read_text())
        assert runinfo["slurm_job_id"] == job["JobId"]
        assert runinfo["cuda_visible_devices"] in ("0", "1")


def test_slurm_logs_exist_only_for_training_jobs(slurm_run):
    logs = slurm_run.workdir / ".snakemake/slurm_logs"
    assert sorted(path.name for path in logs.iterdir()) == ["rule_train_vae"]
    expected = {f"{key}/{job['JobId']}.log" for key, job in jobs_by_run(slurm_run).items()}
    found = {str(path.relative_to(logs / "rule_train_vae"))
             for path in (logs / "rule_train_vae").glob("*/*.log")}
    assert found == expected
    for job in slurm_run.jobs.values():
        assert Path(job["StdOut"]).is_file()
    # The head node ran everything else, e.g. the downloads and the encodings.
    assert "localrule download:" in slurm_run.output
    assert "localrule encode_latents:" in slurm_run.output


def test_job_completion_log_lists_every_training_job(slurm_run):
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                            check=True).stdout
    settings = dict(re.findall(r"^(\w+)\s+= (.*)$", config, flags=re.MULTILINE))
    if settings.get("JobCompType") != "jobcomp/filetxt":
        pytest.skip("the cluster keeps no jobcomp/filetxt log")
    completed = {}
    for line in Path(settings["JobCompLoc"]).read_text().splitlines():
        fields = dict(re.findall(r"(?:^|\s)(\w+)=(\S*)", line))
        if fields.get("JobId") in slurm_run.jobs:
            completed[fields["JobId"]] = fields["JobState"]
    assert completed == {job_id: "COMPLETED" for job_id in slurm_run.jobs}


def test_artifacts_equal_a_local_runs(slurm_run, tiny_run):
    local_workdir, _, _ = tiny_run
    local, cluster = digests(local_workdir), digests(slurm_run.workdir)
    assert {f"results/vae/{model}/seed42/weights.pt" for model in MODELS} <= set(cluster)
    assert len(cluster) >= 30
    assert cluster == local


def test_second_submission_has_nothing_to_do(slurm_run):
    assert "Nothing to be done" in slurm_run.rerun_output
    assert "has been submitted" not in slurm_run.rerun_output

