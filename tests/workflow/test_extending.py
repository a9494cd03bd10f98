"""docs/extending.md, applied exactly as written: its code blocks that name a file."""

from __future__ import annotations

import json
import os
import re

import pytest
from helpers import REPO, REPORT_CHAIN, copy_run, planned_jobs, snakemake

BLOCK = re.compile(r"^```\w+ title=(\S+)\n(.*?)^```$", re.S | re.M)


def recipes() -> dict[str, str]:
    """The document's code blocks by the file each names."""
    return dict(BLOCK.findall((REPO / "docs/extending.md").read_text()))


def test_the_document_names_the_files_of_its_recipes():
    assert set(recipes()) == {"src/prml_pipeline/figures/mixture_marginal.py",
                              "report/report.md", "xlarge.yaml"}


@pytest.mark.slow
def test_a_figure_added_as_documented_is_drawn_alone_and_reported(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    root, blocks = snakefile.parent, recipes()
    module = root / "src/prml_pipeline/figures/mixture_marginal.py"
    report = root / "report/report.md"
    original, stat = report.read_bytes(), report.stat()
    try:
        module.write_text(blocks["src/prml_pipeline/figures/mixture_marginal.py"])
        report.write_text(report.read_text() + "\n" + blocks["report/report.md"])
        assert set(planned_jobs(workdir, snakefile, configs)) == (
            REPORT_CHAIN | {("figure", "name=mixture_marginal")})
        snakemake(workdir, "--cores", "2", snakefile=snakefile, configfiles=configs)
    finally:
        module.unlink(missing_ok=True)
        report.write_bytes(original)
        os.utime(report, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    figure = workdir / "results/figures/mixture_marginal.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((workdir / "results/provenance/figure/mixture_marginal.json").read_text())
    assert record["script"]["path"] == "src/prml_pipeline/figures/mixture_marginal.py"
    assert record["params"]["cfg"] == {"bins": 30, "dpi": 40}
    html = (workdir / "results/report/report.html").read_text()
    assert "Histogram of" in html and "mixture_marginal" in html


@pytest.mark.slow
def test_a_model_size_added_as_documented_is_trained_and_shown(tiny_run, tmp_path):
    workdir, snakefile, configs = tiny_run
    extra = tmp_path / "xlarge.yaml"
    extra.write_text(recipes()["xlarge.yaml"])
    jobs = planned_jobs(workdir, snakefile, (*configs, extra))
    assert {key for key in jobs if "xlarge" in key[1]} == {
        ("train_vae", "model=xlarge, seed=42"), ("iwae_bound", "model=xlarge, seed=42"),
        ("encode_latents", "model=xlarge"), ("decode_grid", "model=xlarge"),
        ("figure", "name=vae_grids-xlarge")}  # its own decoded grid
    assert ("figure", "name=vae_latents") in jobs  # a panel of Figure 6
    assert ("figure", "name=vae_grids-small") not in jobs  # the other grids: unchanged
