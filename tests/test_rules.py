"""The workflow's rules as Snakemake reads them, without running a job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

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
    package_code = workflow.globals["package_code"]
    print(json.dumps({
        "local": {rule.name: rule.name in workflow._localrules for rule in workflow.rules},
        "figures": {name: sorted(entry) for name, entry in figures.items()},
        "code": {script: [Path(path).name for path in package_code(script)]
                 for script in ("scripts/train_vae.py", "scripts/figures/vae_latents.py")},
    }))
"""


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("rules")
    done = subprocess.run([sys.executable, "-c", _READ_RULES, str(REPO / "Snakefile"),
                           str(workdir)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_only_training_leaves_the_submitting_node(workflow):
    local_rules = workflow["local"]
    # report_pdf is a rule of its own: a `use rule` copy would lose `localrule`.
    assert {name for name, local in local_rules.items() if not local} == {"train_vae"}
    assert local_rules["report_pdf"] and local_rules["all"]


def test_each_figure_is_its_script_plus_one_complete_entry(workflow):
    figures = workflow["figures"]
    scripts = {path.stem for path in (REPO / "scripts/figures").glob("*.py")}
    assert set(figures) == scripts
    for name, keys in figures.items():
        assert keys == ["inputs", "plot", "shows"], name


def test_each_rule_depends_on_every_package_module_its_script_imports(workflow):
    """Read from the import statements, followed through the package: train_vae imports
    errors, train and vae itself, and artifacts and records through provenance (not config:
    the workflow's config checks are not its code)."""
    assert workflow["code"]["scripts/train_vae.py"] == [
        "__init__.py", "artifacts.py", "errors.py", "provenance.py", "records.py",
        "train.py", "vae.py"]
    assert workflow["code"]["scripts/figures/vae_latents.py"] == [
        "__init__.py", "artifacts.py", "errors.py", "plotting.py", "provenance.py", "records.py"]
