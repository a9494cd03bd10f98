# PRML sheet pipeline: data -> analytic results and VAEs -> figures -> report.
# `snakemake --cores all` builds results/report/report.{pdf,html}; see README.md.

import os
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

# Jobs import the domain package from this workflow's src/, installed or not, so that they
# run exactly the code whose files the rules list as inputs.
SRC = os.path.realpath(os.path.join(workflow.basedir, "src"))
sys.path.insert(0, SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
)

import yaml

from prml_pipeline.config import coerce_overrides, describe_invalid_config

# Between-workflow output cache (`--cache`; `make report` and profiles/slurm use it): the
# expensive rules (`cache: True`) store their outputs under the hash of their script, params,
# inputs and upstream steps, and a run that asks for the same hash again restores them
# instead of recomputing. Point SNAKEMAKE_OUTPUT_CACHE at shared storage to share it.
OUTPUT_CACHE = os.environ.setdefault(
    "SNAKEMAKE_OUTPUT_CACHE", os.path.abspath(".cache/snakemake-outputs")
)
if workflow.workflow_settings.cache is not None:
    os.makedirs(OUTPUT_CACHE, exist_ok=True)

min_version("9.0")


# Paths from workflow.basedir so that `--directory elsewhere` finds the defaults.
configfile: f"{workflow.basedir}/config/config.yaml"


with open(f"{workflow.basedir}/config/config.yaml") as defaults:
    coerce_overrides(config, yaml.safe_load(defaults))
try:
    validate(config, schema="workflow/schemas/config.schema.yaml")
except WorkflowError as error:
    raise WorkflowError(describe_invalid_config(error)) from None


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/bayesnet.smk"
include: "workflow/rules/regression.smk"
include: "workflow/rules/mixture.smk"
include: "workflow/rules/vae.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


# After a run: the records as a Workflow Run RO-Crate, results/ro-crate-metadata.json, and
# the umask's file mode on what the output cache holds (it makes entries world-writable).
onsuccess:
    from prml_pipeline.artifacts import share_cached_artifacts
    from prml_pipeline.crate import refresh_crate

    share_cached_artifacts("results")
    refresh_crate(Path("results"))


onerror:
    from prml_pipeline.artifacts import share_cached_artifacts

    share_cached_artifacts("results")


# The report, and every artifact it is built from: a file that went missing is remade.
rule all:
    default_target: True
    input:
        "results/report/report.pdf",
        "results/report/report.html",
        every_artifact,
    localrule: True
