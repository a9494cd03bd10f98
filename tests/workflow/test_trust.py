"""The report never vouches for bytes its records do not list; missing artifacts are remade."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import copy_run, snakemake

pytestmark = pytest.mark.slow


def test_a_hand_edited_number_never_reaches_the_report(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    metrics = workdir / "results/vae/large/seed42/metrics.json"
    data = json.loads(metrics.read_text())
    data["test_neg_elbo"] = 122.0
    metrics.write_text(json.dumps(data))  # still valid JSON, newer than the report
    before = report_bytes(workdir)

    done = snakemake(workdir, "--cores", "2", snakefile=snakefile, configfiles=configs,
                     check=False)
    assert done.returncode != 0
    for text in ("results/vae/large/seed42/metrics.json does not match its provenance record",
                 "rule train_vae wrote it", "snakemake --cores all --forcerun train_vae"):
        assert text in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr.split("Logfile")[0]
    assert_report_unchanged_or_absent(workdir, before)
    markdown = report_bytes(workdir)["results/report/report.md"]
    assert markdown is None or b"122.00" not in markdown


REPORT_FILES = ("results/report/values.json", "results/report/report.md",
                "results/report/report.html", "results/report/report.pdf")


def report_bytes(workdir) -> dict[str, bytes | None]:
    return {name: (workdir / name).read_bytes() if (workdir / name).exists() else None
            for name in REPORT_FILES}


def assert_report_unchanged_or_absent(workdir, before: dict[str, bytes | None],
                                      names: tuple[str, ...] = REPORT_FILES) -> None:
    """Each report file named is as it was, or absent: never rebuilt from a changed artifact."""
    after = report_bytes(workdir)
    for name in names:
        assert after[name] is None or after[name] == before[name], f"{name} was rebuilt"


def test_a_changed_figure_byte_stops_the_report_and_names_the_figure(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    figure = workdir / "results/figures/regression.png"
    data = bytearray(figure.read_bytes())
    data[len(data) // 2] ^= 0xFF
    figure.write_bytes(bytes(data))
    before = report_bytes(workdir)
    done = snakemake(workdir, "--cores", "2", snakefile=snakefile, configfiles=configs,
                     check=False)
    assert done.returncode != 0
    assert "results/figures/regression.png does not match its provenance record" in done.stderr
    assert "--forcerun figure" in done.stderr
    assert "libpng" not in done.stderr
    assert_report_unchanged_or_absent(workdir, before)


def test_an_edited_report_source_is_never_compiled(tiny_run, tmp_path):
    """The compiled report's own input edited: the old report goes (Snakemake removes a job's
    outputs before it runs), and no report is built from the edit."""
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    before = report_bytes(workdir)
    source = workdir / "results/report/report.md"
    source.write_text(source.read_text().replace("nats", "nats (EDITED BY HAND)", 1))
    done = snakemake(workdir, "--cores", "2", snakefile=snakefile, configfiles=configs,
                     check=False)
    assert done.returncode != 0
    assert "results/report/report.md does not match its provenance record" in done.stderr
    assert "--forcerun render_report" in done.stderr
    assert_report_unchanged_or_absent(
        workdir, before, ("results/report/report.html", "results/report/report.pdf"))


def test_figures_lost_in_an_interrupted_forcerun_are_remade(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    # What an interrupted `--forcerun figure` leaves: some figures deleted, records kept,
    # and the weights of one model gone the same way.
    lost = ["results/figures/vae_grids-small.png", "results/figures/regression.svg",
            "results/vae/small/seed42/weights.pt"]
    for path in lost:
        (workdir / path).unlink()
    plan = snakemake(workdir, "-n", snakefile=snakefile, configfiles=configs).stdout
    assert "Nothing to be done" not in plan
    snakemake(workdir, "--cores", "2", snakefile=snakefile, configfiles=configs)
    for path in lost:
        assert (workdir / path).is_file(), path
    audit = subprocess.run([sys.executable, "-m", "prml_pipeline", "audit", "results"],
                           cwd=workdir, capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout
    again = snakemake(workdir, "-n", snakefile=snakefile, configfiles=configs).stdout
    assert "Nothing to be done" in again


def test_a_batch_larger_than_the_training_set_is_refused(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    done = snakemake(workdir, "--cores", "1", "results/vae/small/seed42/metrics.json",
                     "--config", "vae={batch_size: 1000}", snakefile=snakefile,
                     configfiles=configs, check=False)
    assert done.returncode != 0
    assert ("config key 'vae.batch_size' is 1000, more than the 600 training images of "
            "dataset 'mnist'") in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr.split("Logfile")[0]
