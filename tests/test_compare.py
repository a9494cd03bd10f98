"""Comparing two runs that differ in one setting."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import snakemake
from test_faults import copy_run

pytestmark = pytest.mark.slow


def test_compare_two_runs_differing_in_one_setting(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    change = workdir / "change.yaml"
    change.write_text(yaml.safe_dump({"vae": {"models": {"medium": {
        "title": "Medium VAE (100, 10)", "hidden": [100, 10], "epochs": 2,
        "full_covariance": False}}}}))
    snakemake(workdir, "--cores", "2", snakefile=snakefile, configfiles=(*configs, change))
    out = tmp_path / "comparison.html"
    done = subprocess.run([sys.executable, "-m", "prml_pipeline.compare",
                           str(tiny_run[0] / "results"), str(workdir / "results"),
                           "--out", str(out)], capture_output=True, text=True, check=True)
    text = done.stdout
    assert "| medium/42: epochs | 1 | 2 |" in text
    settings = text.split("## Settings that differ")[1].split("##")[0]
    assert "large" not in settings and "small" not in settings  # one setting, one model
    assert "| vae.medium.epochs | 1 | 2 | 1 |" in text
    assert "| vae.medium.neg_elbo |" in text and "| vae.large.neg_elbo |" not in text
    assert "- `vae/medium/seed42/weights.pt`:" in text
    assert "- `vae/large/seed42/weights.pt`" not in text
    assert "- `figures/vae_latents.png`" in text and "- `figures/regression.png`" not in text
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2  # vae_latents and vae_grids, side by side
    assert "vae.medium.neg_elbo" in page
