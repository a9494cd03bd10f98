"""Comparing two results folders: fake folders for each kind of difference, and two real runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import copy_run, snakemake

from prml_pipeline.runs.cli import main
from prml_pipeline.runs.compare import Change, compare, flatten, markdown

SOFTWARE = {"python": "3.12.3", "torch": "2.5.1", "numpy": "2.1.0"}
MODELS = ("small", "medium", "large", "fullcov")
SEEDS = (42, 43, 44, 45, 46)


def record(rule: str, wildcards: dict[str, str], cfg: dict[str, Any], *,
           commit: str = "a" * 40, software: dict[str, str] | None = None) -> dict[str, Any]:
    """A provenance record with the layout `provenance.build_record` writes (fewer fields)."""
    key = "/".join(wildcards.values()) or rule
    return {
        "schema": 1, "rule": rule, "wildcards": wildcards,
        "script": {"path": f"scripts/{rule}.py", "git_blob": "b" * 40},
        "code": {"commit": commit, "dirty": False},
        "params": {"cfg": cfg},
        "inputs": {},
        "outputs": {f"results/{rule}/{key}.npz": "c" * 64},
        "software": software or SOFTWARE,
    }


def experiment_cfg(x_var: list[float], target_var: float = 0.25) -> dict[str, Any]:
    return {"n_samples": 20, "noise_var": 0.04, "x_mean": [0.0, 0.0], "x_var": x_var,
            "target_var": target_var}


def train_cfg(model: str, seed: int, batch_size: int) -> dict[str, Any]:
    return {"hidden": {"small": [10], "medium": [100, 10]}.get(model, [300, 60, 10]),
            "epochs": 1, "batch_size": batch_size, "seed": seed,
            "optimizer": {"name": "adam", "learning_rate": 0.001}}


def results_folder(root: Path, *, x_var: dict[str, list[float]], batch_size: int,
                   values: dict[str, Any], commit: str = "a" * 40,
                   software: dict[str, str] | None = None) -> Path:
    """results/ with provenance records of a few rules and report/values.json."""
    jobs = [record("fuel_gauge", {}, {"p_b": [0.9, 0.1]}, commit=commit, software=software)]
    jobs += [record("regression_experiment", {"experiment": name}, experiment_cfg(var),
                    commit=commit, software=software) for name, var in x_var.items()]
    jobs += [record("train_vae", {"model": model, "seed": str(seed)},
                    train_cfg(model, seed, batch_size), commit=commit, software=software)
             for model in MODELS for seed in SEEDS]
    for job in jobs:
        path = root / "provenance" / job["rule"] / f"{'/'.join(job['wildcards'].values())}.json"
        if not job["wildcards"]:
            path = root / "provenance" / job["rule"] / f"{job['rule']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(job))
    (root / "report").mkdir(parents=True)
    (root / "report" / "values.json").write_text(json.dumps(values))
    return root


def report_values(mean: list[float], weights: list[float], commit: str = "aaaaaaa",
                  table: str = "| a |", neg_elbo: float = 101.5) -> dict[str, Any]:
    """values.json as report.report_values lays it out (fewer entries)."""
    small = {"name": "small", "neg_elbo": neg_elbo}
    sentence = ("With a single seed per model there is no seed-to-seed spread: the small VAE "
                f"reaches {neg_elbo:.2f} nats against 99.00 nats of the large one.")
    return {
        "meta": {"commit": commit},
        "regression": {"n_samples": 20, "theta": "(-0.3, 0.5)",
                       "base": {"var_theta0": 0.01, "post_mean": mean}},
        "mixture": {"conditionals": [{"value": 0.5, "weights": weights,
                                      "means": [[1.0], [2.5]]}]},
        "vae": {"flag": True, "comparisons": [sentence], "models": [small], "small": small},
        "tables": {"regression": table},
    }


@pytest.fixture
def two_folders(tmp_path):
    a = results_folder(tmp_path / "a", x_var={"base": [1.0, 1.0], "wide": [4.0, 4.0]},
                       batch_size=100, values=report_values([0.25, 0.5], [0.3, 0.7]))
    b = results_folder(tmp_path / "b", x_var={"base": [1.0, 2.0], "wide": [4.0, 8.0]},
                       batch_size=200, commit="d" * 40,
                       software={**SOFTWARE, "torch": "2.6.0"},
                       values=report_values([0.25, 0.75], [0.4, 0.6], commit="ddddddd",
                                            table="| b |", neg_elbo=102.0))
    return a, b


def test_flatten_indexes_lists_of_any_depth():
    value = {"a": {"b": [1, [2, {"c": 3}]]}, "d": [], "e": "text"}
    assert dict(flatten(value, lists=True)) == {
        "a.b[0]": 1, "a.b[1][0]": 2, "a.b[1][1].c": 3, "d": [], "e": "text"}
    assert dict(flatten(value)) == {"a.b": [1, [2, {"c": 3}]], "d": [], "e": "text"}


def test_numbers_inside_lists_are_compared(two_folders):
    result = compare(*two_folders)
    assert result.numbers == [
        ("mixture.conditionals[0].weights[0]", 0.3, 0.4),
        ("mixture.conditionals[0].weights[1]", 0.7, 0.6),
        ("regression.base.post_mean[1]", 0.5, 0.75),
        ("vae.small.neg_elbo", 101.5, 102.0),  # not again as vae.models[0].neg_elbo
    ]
    text = markdown(result, *two_folders)
    assert "| regression.base.post_mean[1] | 0.5 | 0.75 | 0.25 |" in text
    assert "| mixture.conditionals[0].weights[0] | 0.3 | 0.4 | 0.1 |" in text
    # Text that changed is listed apart from the numbers; the formatted tables are not.
    assert result.others == [
        ("meta.commit", "aaaaaaa", "ddddddd"),
        ("vae.comparisons[0]", report_values([], [])["vae"]["comparisons"][0],
         report_values([], [], neg_elbo=102.0)["vae"]["comparisons"][0]),
    ]
    assert "| meta.commit | \"aaaaaaa\" | \"ddddddd\" |" in text
    # A long text is shown from a little before where it changed.
    assert ("| vae.comparisons[0] | …small VAE reaches 101.50 nats against 99.00 nats of the lar…"
            " | …small VAE reaches 102.00 nats against 99.00 nats of the lar… |") in text
    assert "| b |" not in text


def test_each_experiment_changing_one_key_gets_its_own_row(two_folders):
    settings = [c for c in compare(*two_folders).settings if c.where.startswith("regression")]
    assert settings == [
        Change("regression_experiment[base]", "x_var", [1.0, 1.0], [1.0, 2.0]),
        Change("regression_experiment[wide]", "x_var", [4.0, 4.0], [4.0, 8.0]),
    ]
    text = markdown(compare(*two_folders), *two_folders)
    assert "| regression_experiment[base] | x_var | [1.0, 1.0] | [1.0, 2.0] |" in text
    assert "| regression_experiment[wide] | x_var | [4.0, 4.0] | [4.0, 8.0] |" in text


def test_one_change_in_many_jobs_of_a_rule_is_one_row(two_folders):
    settings = [c for c in compare(*two_folders).settings if c.where.startswith("train_vae")]
    assert settings == [Change("train_vae[all 20 jobs]", "batch_size", 100, 200)]


def test_nested_keys_are_dotted_and_few_jobs_are_named(tmp_path):
    values = report_values([0.25, 0.5], [0.3, 0.7])
    a = results_folder(tmp_path / "a", x_var={}, batch_size=100, values=values)
    b = results_folder(tmp_path / "b", x_var={}, batch_size=100, values=values)
    for seed in (42, 43):
        path = b / "provenance" / "train_vae" / "medium" / f"{seed}.json"
        job = json.loads(path.read_text())
        job["params"]["cfg"]["optimizer"]["learning_rate"] = 0.01
        path.write_text(json.dumps(job))
    path = b / "provenance" / "fuel_gauge" / "fuel_gauge.json"
    job = json.loads(path.read_text())
    job["params"]["cfg"]["p_b"] = [0.8, 0.2]
    path.write_text(json.dumps(job))
    result = compare(a, b)
    assert result.settings == [
        Change("fuel_gauge", "p_b", [0.9, 0.1], [0.8, 0.2]),
        Change("train_vae[medium/42, medium/43]", "optimizer.learning_rate", 0.001, 0.01),
    ]
    assert result.code == [] and result.numbers == [] and result.others == []


def test_commit_and_software_versions_are_compared(two_folders):
    result = compare(*two_folders)
    assert result.code == [
        Change("all 23 jobs", "commit", "a" * 40, "d" * 40),
        Change("all 23 jobs", "software.torch", "2.5.1", "2.6.0"),
    ]
    text = markdown(result, *two_folders)
    assert "## Code and software that differ (2)" in text
    assert f'| all 23 jobs | commit | "{"a" * 40}" | "{"d" * 40}" |' in text
    assert '| all 23 jobs | software.torch | "2.5.1" | "2.6.0" |' in text


def test_the_command_writes_markdown_and_html(two_folders, tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main(["compare", str(two_folders[0]), str(two_folders[1]), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| train_vae[all 20 jobs] | batch_size | 100 | 200 |" in text
    # Numbers align right in the numbers table only.
    assert "| number | A | B | B − A |\n| --- | ---: | ---: | ---: |" in text
    assert "| job | setting | A | B |\n| --- | --- | --- | --- |" in text
    page = out.read_text()
    assert "<td>regression.base.post_mean[1]</td><td>0.5</td><td>0.75</td>" in page
    assert "<td>software.torch</td>" in page


@pytest.mark.slow
def test_compare_two_runs_differing_in_one_setting(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    change = workdir / "change.yaml"
    change.write_text(yaml.safe_dump({"vae": {"models": {"medium": {
        "title": "Medium VAE (100, 10)", "hidden": [100, 10], "epochs": 2,
        "full_covariance": False}}}}))
    snakemake(workdir, "--cores", "2", snakefile=snakefile, configfiles=(*configs, change))
    out = tmp_path / "comparison.html"
    done = subprocess.run([sys.executable, "-m", "prml_pipeline", "compare",
                           str(tiny_run[0] / "results"), str(workdir / "results"),
                           "--out", str(out)], capture_output=True, text=True, check=True)
    text = done.stdout
    assert "| train_vae[medium/42] | epochs | 1 | 2 |" in text
    assert "| report_values | models.medium.epochs | 1 | 2 |" in text
    settings = text.split("## Settings that differ")[1].split("##")[0]
    assert "large" not in settings and "small" not in settings  # one setting, one model
    assert "## Code and software that differ (0)" in text
    assert "| vae.medium.epochs | 1 | 2 | 1 |" in text
    assert "| vae.medium.neg_elbo |" in text and "| vae.large.neg_elbo |" not in text
    assert "- `vae/medium/seed42/weights.pt`:" in text
    assert "- `vae/large/seed42/weights.pt`" not in text
    assert "- `figures/vae_latents.png`" in text and "- `figures/regression.png`" not in text
    page = out.read_text()
    # the figures drawn from the medium model: its latents and its grid, and Fig. 8 when
    # the axes it shares with them moved
    assert "- `figures/vae_grids-medium.png`" in text
    fullcov = "- `figures/vae_fullcov.png`" in text
    assert page.count("data:image/png;base64,") == 2 + fullcov
    assert "vae.medium.neg_elbo" in page
