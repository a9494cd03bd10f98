# Functions shared by the rules: config lookups, per-job config subsets, paths.
# Each job's `cfg` param holds exactly the settings it uses, so that changing one setting
# reruns only the jobs that read it (Snakemake's params trigger compares them).

import functools
import importlib
import os
import re
import types
from importlib.metadata import version
from pathlib import Path

from snakemake.io import strip_wildcard_constraints

from prml_pipeline.config import ConfigError, check_config, condition_label
from prml_pipeline.runs import HARNESS_VERSION
from prml_pipeline.runs.codedeps import science_modules

try:
    check_config(config)
except ConfigError as error:
    raise WorkflowError(f"Invalid configuration: {error}") from None


# The repository (REPO, from the Snakefile), relative to the working directory: input paths
# (and so the rerun triggers and provenance records) then do not depend on how -s was spelt.
ROOT = Path(os.path.relpath(REPO))
# Software of every job under `--sdm conda` (path relative to the rule files).
ENV = "../envs/pipeline.yaml"
MODELS = list(config["vae"]["models"])
# Replicate r of every model trains with seed vae.seed + r; figures use the first seed.
SEEDS = [config["vae"]["seed"] + r for r in range(config["vae"]["replicates"])]
FIGURE_SEED = SEEDS[0]
EXPERIMENTS = list(config["regression"]["experiments"])
PARTS = ["train_images", "train_labels", "test_images", "test_labels"]
SPLITS = ["train", "test"]


wildcard_constraints:
    part="|".join(PARTS),
    split="|".join(SPLITS),
    model="|".join(MODELS),
    seed=r"\d+",
    experiment="|".join(EXPERIMENTS),


@functools.cache
def code_inputs(*scripts):
    """The science modules (sheet, figures, report and the bottom modules) that the scripts
    import, directly or through one another, with each package's __init__.py: inputs, so that
    editing any of them reruns the rule and makes a new cache key. Read from the import
    statements: a new import needs no edit here. The run-keeping (prml_pipeline.runs) is not
    among them: it enters every rule as the `harness` param (HARNESS_VERSION)."""
    return science_modules(ROOT / "src", *(ROOT / script for script in scripts))


def prov(rule_name, key=""):
    """Path of a job's provenance record."""
    return f"results/provenance/{rule_name}/{key or rule_name}.json"


def log_path(rule_name, key=""):
    return f"results/logs/{rule_name}/{key or rule_name}.log"


def bench_path(rule_name, key=""):
    return f"results/benchmarks/{rule_name}/{key or rule_name}.tsv"


def dataset_spec():
    return config["datasets"][config["dataset"]]


def download_cfg(wildcards):
    """What the file is; where it is fetched from (mirrors, folders, timeout) is read by the
    script from the config, so that pointing at a local copy reruns nothing."""
    return {
        "dataset": config["dataset"],
        "file": dataset_spec()["files"][wildcards.part],
    }


def parse_cfg(wildcards):
    return {"normalize_mean": config["data"]["normalize_mean"]}


def experiment_cfg(wildcards):
    regression = config["regression"]
    shared = {key: value for key, value in regression.items() if key != "experiments"}
    settings = dict(regression["experiments"][wildcards.experiment])
    settings.pop("title")
    return {**shared, **settings}


def mixture_cfg(wildcards):
    return {
        key: value for key, value in config["mixture"].items() if key != "condition_on"
    }


CONDITIONS = [condition_label(value) for value in config["mixture"]["condition_on"]]


def conditional_cfg(wildcards):
    values = {condition_label(v): float(v) for v in config["mixture"]["condition_on"]}
    return {**mixture_cfg(wildcards), "value": values[wildcards.value]}


def train_cfg(wildcards):
    vae = config["vae"]
    model = vae["models"][wildcards.model]
    return {
        "dataset": config["dataset"],
        "hidden": model["hidden"],
        "epochs": model["epochs"],
        "full_covariance": model["full_covariance"],
        "latent_dim": vae["latent_dim"],
        "batch_size": vae["batch_size"],
        "learning_rate": vae["learning_rate"],
        "seed": int(wildcards.seed),
        "eval_seed": vae["eval_seed"],
    }


def training_cost(wildcards):
    """A training job's size, epochs x weights: its priority, so that on few cores the
    scheduler starts the longest runs first instead of leaving them behind the short ones.
    """
    model = config["vae"]["models"][wildcards.model]
    widths = [784, *model["hidden"], config["vae"]["latent_dim"]]
    return model["epochs"] * 2 * sum(a * b for a, b in zip(widths, widths[1:]))


def iwae_cfg(wildcards):
    return {
        "samples": config["vae"]["iwae_samples"],
        "eval_seed": config["vae"]["eval_seed"],
    }


def run_dir(model, seed):
    """Folder of one training run: the weights and metrics of a (model, seed)."""
    return f"results/vae/{model}/seed{seed}"


def figure_weights(wildcards):
    """Latents and grids (the figures) come from the first seed's weights."""
    return f"{run_dir(wildcards.model, FIGURE_SEED)}/weights.pt"


def every_run(name):
    """`name` (metrics.json, runinfo.json, iwae.json) of every (model, seed), model-major."""
    return [f"{run_dir(m, s)}/{name}" for m in MODELS for s in SEEDS]


def grid_cfg(wildcards):
    vae = config["vae"]
    return {
        "grid_size": vae["grid_size"],
        "grid_quantiles": vae["grid_quantiles"],
    }


# Versions of the libraries that compute the cached results. A param of those rules, so that
# the output cache's key (script, params, input files, upstream keys; the conda env only
# under --sdm conda) also changes when pip installs another torch or numpy.
NUMERIC_SOFTWARE = {name: version(name) for name in ("torch", "numpy")}

# Figures 6 and 7 show every diagonal model, Figure 8 the first full-covariance one
# (check_config makes sure there is one of each).
DIAGONAL_MODELS = [
    m for m in MODELS if not config["vae"]["models"][m]["full_covariance"]
]
FULLCOV_MODEL = next(m for m in MODELS if config["vae"]["models"][m]["full_covariance"])
# What the latent plots show, in the dataset's own words.
TEST_ITEMS = f"test-set {dataset_spec()['item_noun']}"


def figure_path(name, fmt="png"):
    """A figure's file: png (preview), pdf (the LaTeX report) or svg (the HTML report)."""
    return f"results/figures/{name}.{fmt}"


# Values of each wildcard: the jobs a rule has are the combinations of its wildcards' values.
# A new wildcard is one entry here (figure names: the FIGURES table below).
WILDCARD_VALUES = {
    "part": lambda: PARTS,
    "split": lambda: SPLITS,
    "experiment": lambda: EXPERIMENTS,
    "value": lambda: CONDITIONS,
    "model": lambda: MODELS,
    "seed": lambda: SEEDS,
    "name": lambda: list(FIGURES),
}
REPORT_DIR = "results/report/"


def rule_outputs(rule, key=None):
    """Every output of every job of `rule` (or only its `key` output), from the config."""
    values = {name: WILDCARD_VALUES[name]() for name in rule.wildcard_names}
    return [
        path
        for name, pattern in rule.output._allitems()
        if key is None or name == key
        for path in expand(strip_wildcard_constraints(str(pattern)), **values)
    ]


def recorded_rules():
    """The rules whose jobs write a provenance record (all but `all`)."""
    return [rule for rule in workflow.rules if "prov" in rule.output.keys()]


def every_artifact(wildcards=None):
    """All artifacts of all jobs: `rule all` asks for them, so that a plain run rebuilds
    an intermediate file that went missing (say, after an interrupted --forcerun)."""
    return [path for rule in recorded_rules() for path in rule_outputs(rule)]


def report_numbers(wildcards=None):
    """Every output named `numbers` of every job: JSON files whose values the report's text
    reads as {{ numbers.<file name>.<key> }} (a new analysis needs no edit of the report
    rules)."""
    return [path for rule in recorded_rules() for path in rule_outputs(rule, "numbers")]


def upstream_records(wildcards=None):
    """Provenance records of every job that the report draws on (all but the report's own)."""
    return [
        path
        for rule in recorded_rules()
        if not any(out.startswith(REPORT_DIR) for out in rule_outputs(rule))
        for path in rule_outputs(rule, "prov")
    ]


# ------------------------------------------------------------------------------ figures
# Each figure is a module src/prml_pipeline/figures/<name>.py; the `figure` rule reads them.

# What a figure module's spec(ctx) may read: the config and the workflow's lookups.
FIGURE_CONTEXT = types.SimpleNamespace(
    config=config,
    experiments=EXPERIMENTS,
    conditions=CONDITIONS,
    diagonal_models=DIAGONAL_MODELS,
    fullcov_model=FULLCOV_MODEL,
    model_title=lambda model: config["vae"]["models"][model]["title"],
    test_items=TEST_ITEMS,
    class_names=dataset_spec().get("labels"),
)
FIGURE_DIR = ROOT / "src" / "prml_pipeline" / "figures"


def figure_module(name):
    """The module that draws figure `name` (vae_grids for vae_grids-small)."""
    return importlib.import_module(f"prml_pipeline.figures.{name.split('-')[0]}")


def figure_names():
    """Every figure (one per module, not style.py nor a _helper.py; one per part of a module
    with parts), in the order the report shows them (the module's first mention in
    report/report.md; any not mentioned last)."""
    modules = sorted(
        path.stem
        for path in FIGURE_DIR.glob("*.py")
        if path.stem != "style" and not path.stem.startswith("_")
    )
    report_text = (ROOT / "report" / "report.md").read_text()

    def first_mention(module):
        found = re.search(rf"figures\.{module}\b", report_text)
        return found.start() if found else len(report_text)

    names = []
    for stem in sorted(modules, key=first_mention):
        drawing = figure_module(stem)
        if hasattr(drawing, "parts"):
            names += [f"{stem}-{part}" for part in drawing.parts(FIGURE_CONTEXT)]
        else:
            names.append(stem)
    return names


def figure_entry(name):
    drawing = figure_module(name)
    part = name.partition("-")[2]
    spec = drawing.spec(FIGURE_CONTEXT, part) if part else drawing.spec(FIGURE_CONTEXT)
    return {"shows": drawing.SHOWS, **spec}


def figure_code(wildcards):
    """A figure job's code: its module and the science modules it and the script reach."""
    drawing = f"src/prml_pipeline/figures/{wildcards.name.split('-')[0]}.py"
    return sorted({str(ROOT / drawing), *code_inputs("scripts/figure.py", drawing)})


# Each figure: what it shows (its label in `snakemake --report`), the cached artifacts it
# reads and its plot-only settings, from its module.
FIGURES = {name: figure_entry(name) for name in figure_names()}
