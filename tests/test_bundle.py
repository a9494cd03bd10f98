"""Move a run: pack results/, unpack into a fresh copy of the same sources, nothing to redo."""

from __future__ import annotations

import subprocess
import sys
import tarfile

import pytest
from conftest import copy_workflow, snakemake, tiny_configs
from test_workflow import planned_jobs

pytestmark = pytest.mark.slow


def test_bundle_round_trip_into_a_fresh_workspace(tiny_server, tmp_path):
    server, md5s = tiny_server
    origin = tmp_path / "origin"
    snakefile = copy_workflow(origin)  # a clone: the workflow's own folder is the workspace
    configs = tiny_configs(origin, server, md5s)
    snakemake(origin, "--cores", "2", snakefile=snakefile, configfiles=configs)
    archive = tmp_path / "run.tar.gz"
    subprocess.run([sys.executable, "-m", "prml_pipeline.bundle", "pack", "results", "-o",
                    str(archive)], cwd=origin, check=True, capture_output=True, text=True)
    names = tarfile.open(archive).getnames()
    assert "results/ro-crate-metadata.json" in names
    assert "results/provenance/train_vae/large/seed42.json" in names
    assert not [n for n in names if n.startswith(("results/logs", "results/checkpoints",
                                                  "results/benchmarks"))]

    clone = tmp_path / "clone"
    clone_snakefile = copy_workflow(clone)
    clone_configs = tiny_configs(clone, server, md5s)
    done = subprocess.run([sys.executable, "-m", "prml_pipeline.bundle", "unpack",
                           str(archive)], cwd=clone, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    plan = snakemake(clone, "-n", snakefile=clone_snakefile, configfiles=clone_configs).stdout
    assert "Nothing to be done" in plan
    audit = subprocess.run([sys.executable, "-m", "prml_pipeline.audit", "results"], cwd=clone,
                           capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout

    report = clone / "report" / "report.md"
    report.write_text(report.read_text() + "\nOne more sentence.\n")
    jobs = planned_jobs(clone, clone_snakefile, clone_configs)
    assert {rule for rule, _ in jobs} == {"render_report", "report_html", "report_pdf", "all"}
