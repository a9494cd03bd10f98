# Functions shared by the rules: config lookups, per-job config subsets, paths.
# Each job's `cfg` param holds exactly the settings it uses, so that changing one setting
# reruns only the jobs that read it (Snakemake's params trigger compares them).

import os
from pathlib import Path

from prml_pipeline.config import ConfigError, check_config

try:
    check_config(config)
except ConfigError as error:
    raise WorkflowError(f"Invalid configuration: {error}") from None


# The workflow's folder, relative to the working directory when it is inside it: input paths
# (and so the rerun triggers and provenance records) then do not depend on how -s was spelt.
ROOT = Path(os.path.relpath(Path(workflow.basedir).resolve()))
# Software of every job under `--sdm conda` (path relative to the rule files).
ENV = "../envs/pipeline.yaml"
MODELS = list(config["vae"]["models"])
EXPERIMENTS = list(config["regression"]["experiments"])
PARTS = ["train_images", "train_labels", "test_images", "test_labels"]
SPLITS = ["train", "test"]


wildcard_constraints:
    part="|".join(PARTS),
    split="|".join(SPLITS),
    model="|".join(MODELS),
    experiment="|".join(EXPERIMENTS),


def module(*names):
    """Package modules a rule's script imports: inputs, so that editing one reruns the rule.

    artifacts.py writes every artifact's bytes, so every rule depends on it.
    """
    return [
        str(ROOT / "src" / "prml_pipeline" / f"{name}.py")
        for name in ("artifacts", *names)
    ]


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


def condition_label(value):
    """File-name form of a conditioning value: 1.0 -> '1', 2.5 -> '2.5'."""
    return f"{float(value):g}"


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
        "seed": vae["seed"],
        "eval_seed": vae["eval_seed"],
    }


def architecture_cfg(wildcards):
    model = config["vae"]["models"][wildcards.model]
    return {
        "hidden": model["hidden"],
        "full_covariance": model["full_covariance"],
        "latent_dim": config["vae"]["latent_dim"],
    }


def grid_cfg(wildcards):
    vae = config["vae"]
    return {
        **architecture_cfg(wildcards),
        "grid_size": vae["grid_size"],
        "grid_quantiles": vae["grid_quantiles"],
    }


def vae_artifacts(kind, models):
    return [f"results/vae/{model}/{kind}.npz" for model in models]


SHEET_SIZES = ["small", "medium", "large"]
# What the latent plots show, in the dataset's own words.
TEST_ITEMS = f"test-set {dataset_spec()['item_noun']}"

# Each figure: the cached artifacts it reads and its plot-only settings. Its script is
# scripts/figures/<name>.py, an input too, so editing one script redraws only that figure.
FIGURES = {
    "markov_blanket": {"inputs": {}, "plot": {}},
    "regression": {
        "inputs": {
            "experiments": expand("results/regression/{e}.npz", e=EXPERIMENTS),
        },
        "plot": {
            "titles": [
                config["regression"]["experiments"][e]["title"] for e in EXPERIMENTS
            ],
            "log_limits": config["plots"]["regression_log_limits"],
        },
    },
    "mixture_samples": {
        "inputs": {"samples": "results/mixture/samples.npz"},
        "plot": {"n_samples": config["mixture"]["n_samples"]},
    },
    "mixture_conditionals": {
        "inputs": {
            "conditionals": expand(
                "results/mixture/conditional_x1={v}.npz", v=CONDITIONS
            ),
        },
        "plot": {"xlim": config["plots"]["conditional_xlim"]},
    },
    "vae_latents": {
        "inputs": {"latents": vae_artifacts("latents", SHEET_SIZES)},
        "plot": {
            "titles": [config["vae"]["models"][m]["title"] for m in SHEET_SIZES],
            "points": config["plots"]["latent_points"],
            "limit": config["plots"]["latent_limit"],
            "items": TEST_ITEMS,
        },
    },
    "vae_grids": {
        "inputs": {"grids": vae_artifacts("grid", SHEET_SIZES)},
        "plot": {"titles": [config["vae"]["models"][m]["title"] for m in SHEET_SIZES]},
    },
    "vae_fullcov": {
        "inputs": {
            "latents": "results/vae/fullcov/latents.npz",
            "grid": "results/vae/fullcov/grid.npz",
        },
        "plot": {
            "title": config["vae"]["models"]["fullcov"]["title"],
            "points": config["plots"]["latent_points"],
            "limit": config["plots"]["fullcov_latent_limit"],
            "items": TEST_ITEMS,
        },
    },
}


wildcard_constraints:
    name="|".join(FIGURES),


def figure_inputs(wildcards):
    return {
        **FIGURES[wildcards.name]["inputs"],
        "script": str(ROOT / "scripts" / "figures" / f"{wildcards.name}.py"),
        "code": module("plotting"),
    }


def figure_cfg(wildcards):
    return {**FIGURES[wildcards.name]["plot"], "dpi": config["plots"]["dpi"]}


def figure_path(name):
    return f"results/figures/{name}.png"


def all_provenance():
    """Records of every job upstream of the report, for its provenance appendix."""
    return (
        expand(prov("download", "{part}"), part=PARTS)
        + expand(prov("parse_split", "{split}"), split=SPLITS)
        + [prov("fuel_gauge"), prov("mixture_samples")]
        + expand(prov("regression_experiment", "{e}"), e=EXPERIMENTS)
        + expand(prov("mixture_conditional", "x1={v}"), v=CONDITIONS)
        + expand(
            prov("{step}", "{model}"),
            step=["train_vae", "encode_latents", "decode_grid"],
            model=MODELS,
        )
        + expand(prov("figure", "{name}"), name=FIGURES)
    )
