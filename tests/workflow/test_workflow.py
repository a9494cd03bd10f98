"""End to end: the whole workflow on tiny generated data, in temporary directories."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from helpers import (
    REPO,
    REPORT_CHAIN,
    copy_run,
    digests,
    planned_jobs,
    snakemake,
    tiny_configs,
)

pytestmark = pytest.mark.slow

# Artifacts whose bytes the seed and config determine (runinfo.json, provenance records, logs,
# benchmarks and the compiled report carry wall times and dates by design).
def test_report_holds_computed_numbers_and_every_figure(tiny_run):
    workdir, _, _ = tiny_run
    pdf = workdir / "results/report/report.pdf"
    html = (workdir / "results/report/report.html").read_text()
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    for number in ("21.25%", "10.96%"):
        assert number in text, f"{number} missing from the PDF"
        assert number in html, f"{number} missing from the HTML"
    assert "{{" not in text and "{{" not in html
    assert "<math" in html, "math is not rendered as MathML"
    # every figure embedded as vector graphics (pandoc 2: an SVG data URL, 3: inline SVG)
    svgs = html.count("data:image/svg+xml") + html.count("<svg")
    assert svgs >= 10, "figures are not embedded in the HTML"
    assert "figures/regression.py" in text  # its row of the provenance table
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", pages).group(1)) >= 8


def test_second_run_has_nothing_to_do(tiny_run):
    workdir, snakefile, configs = tiny_run
    assert planned_jobs(workdir, snakefile, configs) == Counter()
    output = snakemake(workdir, "-n", snakefile=snakefile, configfiles=configs).stdout
    assert "Nothing to be done" in output


def test_changing_one_models_epochs_reruns_only_that_model(tiny_run, tmp_path):
    workdir, snakefile, configs = tiny_run
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump({"vae": {"models": {"medium": {
        "title": "Medium VAE (100, 10)", "hidden": [100, 10], "epochs": 3,
        "full_covariance": False}}}}))
    jobs = planned_jobs(workdir, snakefile, (*configs, change))
    assert set(jobs) == REPORT_CHAIN | {
        ("train_vae", "model=medium, seed=42"), ("iwae_bound", "model=medium, seed=42"),
        ("encode_latents", "model=medium"),
        ("decode_grid", "model=medium"), ("figure", "name=vae_latents"),
        # Fig. 8 shares Fig. 6's axes, chosen from every model's latents
        ("figure", "name=vae_fullcov"), ("figure", "name=vae_grids-medium")}


def test_changing_a_plot_setting_redraws_only_that_figure(tiny_run, tmp_path):
    workdir, snakefile, configs = tiny_run
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump({"plots": {"conditional_xlim": [-3, 8]}}))
    jobs = planned_jobs(workdir, snakefile, (*configs, change))
    assert set(jobs) == REPORT_CHAIN | {("figure", "name=mixture_conditionals")}


def test_changing_where_data_comes_from_reruns_nothing(tiny_run, tmp_path):
    workdir, snakefile, configs = tiny_run
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump({"data": {"timeout_s": 7, "local_dir": str(tmp_path)}}))
    assert planned_jobs(workdir, snakefile, (*configs, change)) == Counter()


def planned_after_edits(workdir: Path, snakefile: Path, configs, edited: list[str]) -> Counter:
    """The jobs a dry run plans while `edited` files of the workflow copy carry a comment
    more (then each is restored, times included)."""
    files = [snakefile.parent / name for name in edited]
    saved = [(path.read_bytes(), path.stat()) for path in files]
    try:
        for path, (original, _) in zip(files, saved, strict=True):
            path.write_bytes(original + b"\n# edited\n")
        return planned_jobs(workdir, snakefile, configs)
    finally:
        for path, (original, stat) in zip(files, saved, strict=True):
            path.write_bytes(original)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_editing_one_figure_module_redraws_only_that_figure(tiny_run):
    workdir, snakefile, configs = tiny_run
    jobs = planned_after_edits(workdir, snakefile, configs,
                               ["src/prml_pipeline/figures/regression.py"])
    assert set(jobs) == REPORT_CHAIN | {("figure", "name=regression")}


def test_editing_the_run_keeping_reruns_nothing(tiny_run):
    """The harness, the record reader, the tools and the import reader are not any job's code:
    they enter the rules as the `harness` version param."""
    workdir, snakefile, configs = tiny_run
    runs = ["__init__", "harness", "records", "codedeps", "audit", "compare", "bundle",
            "crate", "cli", "cache"]
    edited = [f"src/prml_pipeline/runs/{name}.py" for name in runs]
    assert planned_after_edits(workdir, snakefile, configs, edited) == Counter()


def test_editing_the_model_retrains_and_editing_the_style_redraws_every_figure(tiny_run):
    workdir, snakefile, configs = tiny_run
    model = planned_after_edits(workdir, snakefile, configs,
                                ["src/prml_pipeline/sheet/vae/model.py"])
    rules = Counter(rule for rule, _ in model.elements())
    assert rules["train_vae"] == 4 and rules["iwae_bound"] == 4
    assert {key for key in model if key[0] == "figure"} == {
        ("figure", f"name={name}") for name in ("vae_latents", "vae_fullcov", "vae_grids-small",
                                                 "vae_grids-medium", "vae_grids-large",
                                                 "vae_grids-fullcov")}
    style = planned_after_edits(workdir, snakefile, configs,
                                ["src/prml_pipeline/figures/style.py"])
    assert set(style) - REPORT_CHAIN == {("figure", f"name={name}") for name in (
        "markov_blanket", "regression", "mixture_samples", "mixture_conditionals",
        "vae_latents", "vae_fullcov", "vae_grids-small", "vae_grids-medium", "vae_grids-large",
        "vae_grids-fullcov")}


def test_audit_passes_then_flags_an_altered_artifact(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    # Beside the original: records hold paths relative to the working directory.
    copy = workdir.parent / tmp_path.name
    shutil.copytree(workdir / "results", copy / "results")
    audit = [sys.executable, "-m", "prml_pipeline", "audit", "results"]
    clean = subprocess.run(audit, cwd=copy, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert ", 0 problems" in clean.stdout
    weights = copy / "results/vae/small/seed42/weights.pt"
    weights.write_bytes(weights.read_bytes()[:-10])
    flagged = subprocess.run(audit, cwd=copy, capture_output=True, text=True)
    assert flagged.returncode == 1
    assert re.search(r"altered\s+results/vae/small/seed42/weights\.pt\s+\(rule train_vae\)",
                     flagged.stdout), flagged.stdout
    # encode_latents read the old weights: its record is now stale too.
    assert "stale" in flagged.stdout


def test_provenance_record_of_a_training_job(tiny_run):
    workdir, _, _ = tiny_run
    record_path = workdir / "results/provenance/train_vae/small/seed42.json"
    record = yaml.safe_load(record_path.read_text())
    assert record["rule"] == "train_vae"
    assert record["script"]["path"] == "scripts/train_vae.py"
    assert len(record["script"]["git_blob"]) == 40
    weights = workdir / "results/vae/small/seed42/weights.pt"
    assert record["outputs"]["results/vae/small/seed42/weights.pt"] == hashlib.sha256(
        weights.read_bytes()).hexdigest()
    assert set(record["inputs"]) >= {"results/data/train.npz", "results/data/test.npz"}
    assert record["seeds"] == {"seed": 42, "eval_seed": 0}
    assert record["software"]["torch"].startswith("2.13")
    assert record["machine"]["threads"] == 1 and record["machine"]["cpu"]
    assert record["extra"]["device"].startswith("cpu")
    # What the job used: CPU time and peak memory, in the record and in the report's Table 7.
    hardware = record["extra"]["hardware"]
    assert 0 < hardware["cpu_seconds"] and 100 < hardware["peak_rss_mib"]
    assert hardware["nvml"] == {"available": False, "reason": "the job ran on the CPU"}
    table = (workdir / "results/report/report.md").read_text()
    assert (f"| {hardware['wall_seconds']:.1f}, {hardware['cpu_seconds']:.1f} | "
            f"{hardware['peak_rss_mib']:.0f} | none (CPU) |") in table


def test_snakemake_report_registers_every_figure(tiny_run, tmp_path):
    workdir, snakefile, configs = tiny_run
    target = tmp_path / "snakemake-report.zip"
    snakemake(workdir, "--report", str(target), snakefile=snakefile, configfiles=configs)
    listing = subprocess.run(["python3", "-m", "zipfile", "-l", str(target)],
                             capture_output=True, text=True, check=True).stdout
    for name in ("markov_blanket", "regression", "mixture_samples", "mixture_conditionals",
                 "vae_latents", "vae_grids-small", "vae_grids-fullcov", "vae_fullcov"):
        assert f"{name}.png" in listing


def test_two_clean_runs_give_identical_artifacts(tiny_run, tiny_server, tmp_path):
    workdir, snakefile, _ = tiny_run
    server, md5s = tiny_server
    second = tmp_path / "second"
    second.mkdir()
    snakemake(second, "--cores", "2", snakefile=snakefile,
              configfiles=tiny_configs(second, server, md5s))
    first_digests, second_digests = digests(workdir), digests(second)
    assert len(first_digests) >= 30
    assert first_digests == second_digests


def test_repository_workflow_dry_runs_from_another_directory(tmp_path):
    done = snakemake(tmp_path, "-n", "--cores", "1", snakefile=REPO / "Snakefile")
    assert "train_vae" in done.stdout and "report_pdf" in done.stdout


def test_iwae_bound_is_at_least_the_elbo_for_every_model(tiny_run):
    workdir = tiny_run[0]
    for model in ("small", "medium", "large", "fullcov"):
        run = workdir / f"results/vae/{model}/seed42"
        elbo = json.loads((run / "metrics.json").read_text())["test_neg_elbo"]
        iwae = json.loads((run / "iwae.json").read_text())
        assert iwae["samples"] == 32
        # Both in nats per image, lower is better: -IWAE <= -ELBO (log p >= IWAE >= ELBO).
        assert iwae["test_neg_iwae"] < elbo, model


def test_replicates_add_one_training_job_per_model_and_seed(tiny_run, tmp_path):
    workdir, snakefile, configs = tiny_run
    change = tmp_path / "replicates.yaml"
    change.write_text(yaml.safe_dump({"vae": {"replicates": 3}}))
    jobs = planned_jobs(workdir, snakefile, (*configs, change))
    runs = {(rule, f"model={m}, seed={s}") for rule in ("train_vae", "iwae_bound")
            for m in ("small", "medium", "large", "fullcov") for s in (43, 44)}
    # The figures keep the first seed: nothing but the new runs and the report is planned.
    assert set(jobs) == REPORT_CHAIN | runs


def test_replicate_seeds_differ_and_reproduce(tiny_run, tmp_path):
    weights = {}
    for copy in ("a", "b"):
        workdir, snakefile, configs = copy_run(tiny_run, f"{tmp_path.name}-{copy}")
        snakemake(workdir, "--cores", "2", "results/vae/small/seed43/weights.pt",
                  "--config", "vae={replicates: 2}", snakefile=snakefile,
                  configfiles=configs)
        weights[copy] = {seed: (workdir / f"results/vae/small/seed{seed}/weights.pt").read_bytes()
                         for seed in (42, 43)}
    assert weights["a"][43] == weights["b"][43]  # a seed reproduces its weights
    assert weights["a"][42] != weights["a"][43]  # and another seed gives others
