"""Bad configuration stops the run before any job starts, with a message naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from helpers import REPO, snakemake
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from prml_pipeline.config import (
    ConfigError,
    check_config,
    coerce_overrides,
    describe_invalid_config,
)

DEFAULT = yaml.safe_load((REPO / "config/config.yaml").read_text())
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
SMALL = DEFAULT["vae"]["models"]["small"]

# (case, config override, text the error must contain) -- docs/reliability.md lists the same.
BAD_CONFIGS = [
    ("wrong type", {"vae": {"batch_size": "fifty"}},
     "config key 'vae.batch_size': 'fifty' is not of type 'integer'"),
    ("zero epochs", {"vae": {"models": {"small": {**SMALL, "epochs": 0}}}},
     "config key 'vae.models.small.epochs': 0 is less than the minimum of 1"),
    ("negative epochs", {"vae": {"models": {"small": {**SMALL, "epochs": -3}}}},
     "config key 'vae.models.small.epochs': -3 is less than the minimum of 1"),
    ("empty architecture", {"vae": {"models": {"small": {**SMALL, "hidden": []}}}},
     "config key 'vae.models.small.hidden': [] should be non-empty"),
    ("probabilities not summing to 1", {"bayesnet": {"p_b": [0.2, 0.9]}},
     "config key 'bayesnet.p_b' must sum to 1"),
    ("conditional table not summing to 1",
     {"bayesnet": {"p_g_given_bf": [[[0.9, 0.1], [0.8, 0.3]], [[0.8, 0.2], [0.2, 0.8]]]}},
     "config key 'bayesnet.p_g_given_bf[0][1]' must sum to 1"),
    ("non-positive-definite covariance",
     {"mixture": {"covariances": [[[1, 2], [2, 1]], [[1, 0], [0, 1]]]}},
     "config key 'mixture.covariances[0]' must be positive definite"),
    ("unknown dataset", {"dataset": "cifar10"},
     "config key 'dataset' is 'cifar10', which is not a known dataset"),
    ("unknown key", {"vea": {"epochs": 3}},
     "Additional properties are not allowed ('vea' was unexpected)"),
    ("unknown key in a model", {"vae": {"models": {"small": {**SMALL, "epoch": 3}}}},
     "config key 'vae.models.small': Additional properties are not allowed ('epoch'"),
    ("no full-covariance model",
     {"vae": {"models": {"fullcov": {**SMALL, "full_covariance": False}},
              "comparisons": []}},
     "config key 'vae.models' needs at least one model with full_covariance: false"),
    ("grid too fine for memory", {"regression": {"grid_resolution": 30000}},
     "config key 'regression.grid_resolution': 30000 is greater than the maximum of 2000"),
    ("training for days", {"vae": {"models": {"small": {**SMALL, "epochs": 20000}}}},
     "config key 'vae.models.small.epochs': 20000 is greater than the maximum of 1000"),
    ("a layer too wide", {"vae": {"models": {"small": {**SMALL, "hidden": [100000]}}}},
     "config key 'vae.models.small.hidden.0': 100000 is greater than the maximum of 4096"),
    ("too many samples", {"mixture": {"n_samples": 10_000_000}},
     "config key 'mixture.n_samples': 10000000 is greater than the maximum of 100000"),
    ("conditioning values sharing a file",
     {"mixture": {"condition_on": [1.0000001, 1.0000002]}},
     "config key 'mixture.condition_on' holds 1.0000001 and 1.0000002, which share the file "
     "name conditional_x1=1.npz"),
    ("a learning rate that is not a number", {"vae": {"learning_rate": float("nan")}},
     "config key 'vae.learning_rate' is nan, not a finite number"),
    ("an infinite conditioning value", {"mixture": {"condition_on": [float("inf")]}},
     "config key 'mixture.condition_on[0]' is inf, not a finite number"),
    ("a conditioning value that is not a number", {"mixture": {"condition_on": [float("nan")]}},
     "config key 'mixture.condition_on[0]' is nan, not a finite number"),
    ("a seed past 2**32 - 1", {"vae": {"seed": 2**64}},
     "config key 'vae.seed': 18446744073709551616 is greater than the maximum of 4294967295"),
    ("a negative seed", {"mixture": {"seed": -1}},
     "config key 'mixture.seed': -1 is less than the minimum of 0"),
    ("replicate seeds past 2**32 - 1", {"vae": {"seed": 2**32 - 2, "replicates": 3}},
     "config keys 'vae.seed' and 'vae.replicates' give replicate seeds up to 4294967296"),
    ("an unknown cache mode", {"cache": {"mode": "world"}},
     "config key 'cache.mode': 'world' is not one of ['all', 'group']"),
]


def check_as_the_snakefile_does(override: dict) -> None:
    """What a run with `override` in a --configfile does before any job: merge it over the
    defaults, validate against the schema, then the semantic checks (Snakefile, common.smk)."""
    config = copy.deepcopy(DEFAULT)
    update_config(config, copy.deepcopy(override))
    coerce_overrides(config, DEFAULT)
    try:
        validate(config, schema=str(SCHEMA))
    except WorkflowError as error:
        raise ConfigError(describe_invalid_config(error)) from None
    check_config(config)


@pytest.mark.parametrize(("case", "override", "message"), BAD_CONFIGS,
                         ids=[case for case, _, _ in BAD_CONFIGS])
def test_bad_config_is_refused_naming_the_key(case, override, message):
    with pytest.raises(ConfigError) as info:
        check_as_the_snakefile_does(override)
    assert message in str(info.value)


# One schema error and one semantic error, through a real run (the rest as above, in-process).
@pytest.mark.parametrize(("case", "override", "message"),
                         [case for case in BAD_CONFIGS if case[0] in
                          ("wrong type", "probabilities not summing to 1",
                           "a conditioning value that is not a number", "a seed past 2**32 - 1")],
                         ids=["schema", "semantic", "nan", "seed"])
def test_bad_config_stops_before_any_job(case, override, message, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(override))
    done = snakemake(tmp_path, "--cores", "1", configfiles=(bad,), check=False)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists(), "a job ran despite the bad config"


@pytest.mark.parametrize("name", sorted(path.name for path in (REPO / "config").glob("*.yaml")))
def test_shipped_config_files_pass_the_checks(name):
    override = yaml.safe_load((REPO / "config" / name).read_text())
    check_as_the_snakefile_does(override)


def test_mixture_component_counts_must_agree():
    config = copy.deepcopy(DEFAULT)
    config["mixture"]["means"].append([0, 0])
    with pytest.raises(ConfigError, match=r"'mixture.means' has 3 entries but"):
        check_config(config)


def test_grid_quantiles_must_increase():
    config = copy.deepcopy(DEFAULT)
    config["vae"]["grid_quantiles"] = [0.9, 0.1]
    with pytest.raises(ConfigError, match=r"'vae.grid_quantiles' must be \[low, high\]"):
        check_config(config)


def test_nested_command_line_overrides_keep_their_types(tmp_path: Path):
    done = snakemake(tmp_path, "-n", "--config",
                     "vae={models: {large: {epochs: 2, hidden: [200, 50, 10]}}}",
                     "vae={batch_size: 25}", "dataset=fashion-mnist")
    assert "Invalid configuration" not in done.stdout + done.stderr
    config = {"vae": {"batch_size": "25", "models": {
        "large": {"epochs": "2", "title": "7", "hidden": ["200", "50", "10", "5"]},
        "new": {"epochs": "3"}}}}
    coerce_overrides(config, DEFAULT)
    assert config == {"vae": {"batch_size": 25, "models": {
        "large": {"epochs": 2, "title": "7", "hidden": [200, 50, 10, 5]},
        "new": {"epochs": "3"}}}}


def test_text_where_a_number_belongs_says_how_to_override(tmp_path: Path):
    done = snakemake(tmp_path, "-n", "--config", "vae={batch_size: many}", check=False)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "config key 'vae.batch_size': 'many' is not of type 'integer'" in output
    assert "pass it with --configfile FILE, which merges into the defaults" in output
