"""The workflow's rules as Snakemake reads them, without running a job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO

# Parses the Snakefile with Snakemake's API in a fresh process (parsing edits os.environ and
# changes directory) and prints, per rule, whether it runs where Snakemake runs, and the keys
# of each entry of the FIGURES table.
_READ_RULES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import OutputSettings, ResourceSettings
with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
    workflow = api.workflow(resource_settings=ResourceSettings(), snakefile=Path(sys.argv[1]),
                            workdir=Path(sys.argv[2]))._workflow
    figures = workflow.globals["FIGURES"]
    code_inputs = workflow.globals["code_inputs"]
    figure_code = workflow.globals["figure_code"]
    src = Path(sys.argv[3]) / "src"
    print(json.dumps({
        "local": {rule.name: rule.name in workflow._localrules for rule in workflow.rules},
        "figures": {name: sorted(entry) for name, entry in figures.items()},
        "code": {
            "train_vae": [str(Path(p).resolve().relative_to(src)) for p in
                          code_inputs("scripts/train_vae.py")],
            **{f"figure {name}": [str(Path(p).resolve().relative_to(src))
                                  for p in figure_code(type("W", (), {"name": name}))]
               for name in figures},
        },
    }))
"""


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("rules")
    done = subprocess.run([sys.executable, "-c", _READ_RULES, str(REPO / "Snakefile"),
                           str(workdir), str(REPO)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_only_training_leaves_the_submitting_node(workflow):
    local_rules = workflow["local"]
    # report_pdf is a rule of its own: a `use rule` copy would lose `localrule`.
    assert {name for name, local in local_rules.items() if not local} == {"train_vae"}
    assert local_rules["report_pdf"] and local_rules["all"]


def test_each_figure_is_one_module_with_a_complete_entry(workflow):
    figures = workflow["figures"]
    modules = {path.stem for path in (REPO / "src/prml_pipeline/figures").glob("*.py")
               if path.stem != "style" and not path.stem.startswith("_")}
    # a module with parts (vae_grids) is one figure per part: vae_grids-small, ...
    assert {name.split("-")[0] for name in figures} == modules
    assert {name for name in figures if "-" in name} == {
        f"vae_grids-{model}" for model in ("small", "medium", "large", "fullcov")}
    for name, keys in figures.items():
        assert keys == ["inputs", "plot", "shows"], name


def test_a_jobs_code_inputs_are_the_science_its_script_reaches(workflow):
    """Read from the import statements, followed through the package: train_vae runs the
    training loop, the model, its loss and weights, and the bottom modules; never the
    run-keeping (prml_pipeline/runs: the harness, records, tools) nor the config checks."""
    base = ["prml_pipeline/__init__.py", "prml_pipeline/artifacts.py",
            "prml_pipeline/errors.py"]
    vae = "prml_pipeline/sheet/vae/"
    assert workflow["code"]["train_vae"] == sorted([
        *base, "prml_pipeline/sheet/__init__.py", f"{vae}__init__.py", f"{vae}loss.py",
        f"{vae}model.py", f"{vae}train.py", f"{vae}weights.py"])
    figures = "prml_pipeline/figures/"
    style = [*base, f"{figures}__init__.py", f"{figures}style.py"]
    assert workflow["code"]["figure regression"] == sorted([*style, f"{figures}regression.py"])
    assert workflow["code"]["figure vae_latents"] == sorted(
        [*style, f"{figures}_panels.py", f"{figures}vae_latents.py"])
    for name, inputs in workflow["code"].items():
        assert not any("/runs/" in path or path.endswith("config.py") for path in inputs), name
