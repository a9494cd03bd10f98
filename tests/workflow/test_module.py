"""The workflow deployed in another project, as `snakedeploy deploy-workflow` sets it up: a
Snakefile with `module` and `use rule *`, and the project's own config/config.yaml (here
.test's settings and tiny data, the workflow's test folder)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import REPO, check_provenance_run_crate, make_tiny_dataset, snakemake

from prml_pipeline.runs.crate_check import check_crate

TEST_FOLDER = REPO / ".test"
# What the project writes: the module (the workflow's own Snakefile, by path here; a release on
# GitHub with `github(...)` in a real deployment), every rule under a prefix, and the crate
# after a run (Snakemake runs only the project's own onsuccess).
PROJECT_SNAKEFILE = """configfile: "config/config.yaml"


module prml:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from prml as prml_*


onsuccess:
    from prml_pipeline.runs.crate import refresh_crate

    refresh_crate("results", metadata=config["metadata"])
"""


def project(folder: Path) -> Path:
    """A project folder holding .test's config/ and data/ and a Snakefile using the module."""
    shutil.copytree(TEST_FOLDER / "config", folder / "config")
    shutil.copytree(TEST_FOLDER / "data", folder / "data")
    snakefile = folder / "Snakefile"
    snakefile.write_text(PROJECT_SNAKEFILE.format(snakefile=REPO / "workflow" / "Snakefile"))
    return snakefile


@pytest.mark.slow
def test_a_project_using_the_workflow_as_a_module_builds_the_report(tmp_path):
    snakefile = project(tmp_path / "project")
    workdir = snakefile.parent
    snakemake(workdir, "--cores", "2", snakefile=snakefile)
    results = workdir / "results"
    assert (results / "report" / "report.pdf").stat().st_size > 0
    assert (results / "report" / "report.html").stat().st_size > 0
    assert "seven-segment digits" in (results / "report" / "report.md").read_text()
    # Every job ran as the project's rule, and its record says so.
    record = json.loads((results / "provenance" / "figure" / "vae_latents.json").read_text())
    assert record["rule"] == "prml_figure"
    assert record["script"]["path"] == "src/prml_pipeline/figures/vae_latents.py"
    values = json.loads((results / "report" / "values.json").read_text())
    assert "vae_latents" in values["figures"]
    # Nothing left to do, and the crate of the run holds the workflow and passes its profile.
    assert "Nothing to be done" in snakemake(workdir, "-n", snakefile=snakefile).stdout
    crate = check_provenance_run_crate(results)
    assert crate.get("#step/prml_train_vae") is not None
    assert (results / "code" / "workflow" / "Snakefile").read_bytes() == (
        REPO / "workflow" / "Snakefile").read_bytes()
    assert not [issue for issue in check_crate(results) if issue.severity == "REQUIRED"]


@pytest.mark.slow
def test_the_working_directory_config_is_read_over_the_defaults(tmp_path):
    """Snakemake's convention for `--directory .test`: the folder's config/config.yaml."""
    workdir = tmp_path / "test-folder"
    shutil.copytree(TEST_FOLDER / "config", workdir / "config")
    planned = snakemake(workdir, "-n", snakefile=REPO / "workflow" / "Snakefile").stdout
    assert "rule download" in planned and "rule prml_" not in planned
    settings = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    settings["dataset"] = "no-such-dataset"
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(settings))
    failed = snakemake(workdir, "-n", snakefile=REPO / "workflow" / "Snakefile", check=False)
    assert failed.returncode != 0
    assert "no-such-dataset" in failed.stdout + failed.stderr


def test_the_test_folder_data_is_what_the_helpers_make(tmp_path):
    """.test/data holds make_tiny_dataset(600, 200, seed 0), byte for byte, and .test's
    config names their checksums."""
    md5s = make_tiny_dataset(tmp_path, n_train=600, n_test=200, seed=0)
    settings = yaml.safe_load((TEST_FOLDER / "config" / "config.yaml").read_text())
    files = settings["datasets"][settings["dataset"]]["files"]
    assert {spec["filename"]: spec["md5"] for spec in files.values()} == md5s
    for name in md5s:
        assert (TEST_FOLDER / "data" / name).read_bytes() == (tmp_path / name).read_bytes()


def test_the_catalog_entry_says_how_to_run_it():
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert usage["mandatory-flags"]["flags"] == "--cores all"
    stacks = usage["software-stack-deployment"]
    assert set(stacks) == {"conda", "apptainer", "apptainer+conda", "report"}
    assert stacks["conda"] is True and stacks["report"] is True
    # What it promises: every rule names the conda environment, and no container is declared.
    rules = "".join(path.read_text() for path in (REPO / "workflow" / "rules").glob("*.smk"))
    assert rules.count("conda:") == rules.count("\nrule ") and "container:" not in rules
    assert (REPO / "workflow" / "envs" / "pipeline.yaml").is_file()
