"""Move a run: pack results/, unpack into a fresh copy of the same sources, nothing to redo."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile

import pytest
from helpers import REPORT_CHAIN, copy_workflow, planned_jobs, snakemake, tiny_configs

from prml_pipeline.runs import bundle

pytestmark = pytest.mark.slow

FIGURES = ("markov_blanket", "regression", "mixture_samples", "mixture_conditionals",
           "vae_latents", "vae_grids-small", "vae_grids-medium", "vae_grids-large",
           "vae_grids-fullcov", "vae_fullcov")


def test_bundle_round_trip_into_a_fresh_workspace(tiny_server, tmp_path):
    server, md5s = tiny_server
    origin = tmp_path / "origin"
    snakefile = copy_workflow(origin)  # a clone: the workflow's own folder is the workspace
    configs = tiny_configs(origin, server, md5s)
    snakemake(origin, "--cores", "2", snakefile=snakefile, configfiles=configs)
    archive = tmp_path / "run.tar.gz"
    subprocess.run([sys.executable, "-m", "prml_pipeline", "bundle", "results", "-o",
                    str(archive)], cwd=origin, check=True, capture_output=True, text=True)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        metadata = json.load(tar.extractfile(bundle.METADATA_MEMBER))["records"]
    assert "results/ro-crate-metadata.json" in names
    assert "results/provenance/train_vae/large/seed42.json" in names
    assert not [n for n in names if n.startswith(("results/logs", "results/checkpoints",
                                                  "results/benchmarks"))]
    # Snakemake's record of every output of every job, the provenance records included.
    assert {"results/figures/vae_latents.png", "results/provenance/figure/vae_latents.json",
            "results/vae/large/seed42/weights.pt"} <= set(metadata)
    assert metadata["results/figures/vae_latents.png"]["rule"] == "figure"
    assert str(origin) not in json.dumps(metadata)

    clone = tmp_path / "clone"
    clone_snakefile = copy_workflow(clone)
    clone_configs = tiny_configs(clone, server, md5s)
    done = subprocess.run([sys.executable, "-m", "prml_pipeline", "unbundle",
                           str(archive)], cwd=clone, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    plan = snakemake(clone, "-n", snakefile=clone_snakefile, configfiles=clone_configs).stdout
    assert "Nothing to be done" in plan
    audit = subprocess.run([sys.executable, "-m", "prml_pipeline", "audit", "results"], cwd=clone,
                           capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout

    # A changed setting reruns what it changes: the restored metadata holds the old params.
    jobs = planned_jobs(clone, clone_snakefile, clone_configs, "--config", "plots={dpi: 90}")
    assert set(jobs) == REPORT_CHAIN | {("figure", f"name={name}") for name in FIGURES}
    assert planned_jobs(clone, clone_snakefile, clone_configs) == {}

    report = clone / "report" / "report.md"
    report.write_text(report.read_text() + "\nOne more sentence.\n")
    jobs = planned_jobs(clone, clone_snakefile, clone_configs)
    assert {rule for rule, _ in jobs} == {"render_report", "report_html", "report_pdf", "all"}


def test_metadata_lies_where_snakemake_looks_and_names_no_path_of_this_machine(tmp_path):
    from snakemake.persistence.file import FilePersistence

    persistence = FilePersistence(path=tmp_path / ".snakemake")
    for key in ("results/figures/vae_latents.png", "results/" + "x" * 400 + ".npz"):
        assert str(bundle._metadata_file(tmp_path, key)) == persistence._record_path(
            persistence._metadata_path, key)

    origin, clone = tmp_path / "origin", tmp_path / "clone"
    conda_hash = hashlib.md5(b"somewhere/.snakemake/conda", usedforsecurity=False).hexdigest()
    record = {"rule": "figure", "input": [f"{origin}/scripts/figures/regression.py"],
              "params": [f"'{origin}/results/x'", f"'{origin}2/y'"], "conda_env": "ZW52",
              "software_stack_hash": conda_hash,
              "input_checksums": {f"{origin}/scripts/figures/regression.py": "sha256:00"}}
    portable = bundle._portable(record, origin)
    assert str(origin) + "/" not in json.dumps(portable)
    assert portable["software_stack_hash"] is None  # folds in the conda folder's path
    local = bundle._localised(portable, clone)
    assert local["input"] == [f"{clone}/scripts/figures/regression.py"]
    assert local["params"] == [f"'{clone}/results/x'", f"'{origin}2/y'"]
    assert list(local["input_checksums"]) == local["input"]
    no_stack = {**record, "software_stack_hash": bundle.EMPTY_STACK}
    assert bundle._portable(no_stack, origin)["software_stack_hash"] == bundle.EMPTY_STACK


@pytest.mark.parametrize("member", [bundle.METADATA_MEMBER, "elsewhere/f.txt"])
def test_unpack_refuses_anything_but_plain_files_under_results(tmp_path, member):
    """The metadata member too must be a plain file (a folder would fail as a traceback)."""
    archive = tmp_path / "odd.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.type = tarfile.DIRTYPE if member == bundle.METADATA_MEMBER else tarfile.REGTYPE
        tar.addfile(info)
    with pytest.raises(bundle.BundleError,
                       match="other than files and folders under results/") as error:
        bundle.unpack(archive, tmp_path / "into")
    assert member in str(error.value)
    assert not (tmp_path / "into").exists()
