"""Semantic checks of the configuration that JSON Schema cannot express.

`snakemake` validates config/config.yaml against workflow/schemas/config.schema.yaml first
(types, ranges, unknown keys); `check_config` then checks what needs arithmetic. Both run
before any job starts, and every message names the offending key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import yaml

from prml_pipeline.errors import ConfigError

# As strict as the jobs' own checks (bayesnet, mixture): whatever passes here, they accept.
_TOLERANCE = 1e-9


def coerce_overrides(config: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    """Turn text back into numbers and booleans where the default is one, in place.

    `snakemake --config 'vae={models: {large: {epochs: 2, hidden: [50, 10]}}}'` hands nested
    values over as strings ('2', ['50', '10']); where the default setting (or, in a list, the
    default's item) is not a string, the text is read as YAML. Keys without a default stay
    text; the schema then refuses them by name (``vae.models`` holds exactly the four models).
    """
    for key, value in config.items():
        default = defaults.get(key) if isinstance(defaults, Mapping) else None
        config[key] = _coerced(value, default)


def _coerced(value: Any, default: Any) -> Any:
    if isinstance(value, dict):
        coerce_overrides(value, default if isinstance(default, Mapping) else {})
    elif isinstance(value, list) and isinstance(default, list) and default:
        return [_coerced(item, default[min(index, len(default) - 1)])
                for index, item in enumerate(value)]
    elif isinstance(value, str) and default is not None and not isinstance(default, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(parsed, int | float | bool | list) or parsed is None:
            return parsed
    return value


def describe_invalid_config(error: BaseException) -> str:
    """One line naming the offending key, from the schema error Snakemake's validate() raises."""
    cause: BaseException | None = error
    while cause is not None and not hasattr(cause, "absolute_path"):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return f"Invalid configuration: {error}"
    key = ".".join(str(part) for part in cause.absolute_path) or "(top level)"
    hint = ""
    if isinstance(getattr(cause, "instance", None), str) and "is not of type" in cause.message:
        hint = (" A nested --config value arrives as text: put only the keys to change in a "
                "YAML file and pass it with --configfile FILE, which merges into the defaults.")
    return (f"Invalid configuration: config key '{key}': {cause.message}. Fix it in "
            "config/config.yaml or in the --config/--configfile that set it "
            f"(config/README.md documents every key).{hint}")


def _require_distribution(values: Any, key: str) -> None:
    total = float(np.sum(values))
    if abs(total - 1.0) > _TOLERANCE:
        raise ConfigError(
            f"config key '{key}' must sum to 1 (it is a probability distribution), "
            f"but sums to {total:g}: {values}"
        )


def _require_positive_definite(matrix: Any, key: str) -> None:
    array = np.asarray(matrix, dtype=float)
    if not np.allclose(array, array.T, rtol=1e-10, atol=1e-12):
        raise ConfigError(f"config key '{key}' must be a symmetric matrix, got {matrix}")
    try:
        np.linalg.cholesky(array)
    except np.linalg.LinAlgError:
        raise ConfigError(
            f"config key '{key}' must be positive definite (a covariance matrix), got {matrix}; "
            f"eigenvalues {np.round(np.linalg.eigvalsh(array), 6).tolist()}"
        ) from None


def _require_increasing(pair: Any, key: str) -> None:
    if not pair[0] < pair[1]:
        raise ConfigError(f"config key '{key}' must be [low, high] with low < high, got {pair}")


def condition_label(value: float) -> str:
    """File-name form of a conditioning value: 1.0 -> '1', 2.5 -> '2.5' (six digits)."""
    return f"{float(value):g}"


def _require_distinct_file_names(values: Any) -> None:
    seen: dict[str, Any] = {}
    for value in values:
        label = condition_label(value)
        if label in seen:
            raise ConfigError(
                f"config key 'mixture.condition_on' holds {seen[label]!r} and {value!r}, which "
                f"share the file name conditional_x1={label}.npz (six significant digits): "
                "make them differ within six digits or drop one"
            )
        seen[label] = value


# The largest seed numpy's legacy generator and torch's both accept (the schema's maximum).
MAX_SEED = 2**32 - 1


def _require_finite(value: Any, key: str = "") -> None:
    """No NaN or infinity anywhere: JSON Schema's bounds let them through (NaN compares false
    with every bound), and the jobs' JSON records cannot hold them."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            _require_finite(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _require_finite(item, f"{key}[{index}]")
    elif isinstance(value, float) and not np.isfinite(value):
        raise ConfigError(
            f"config key '{key}' is {value}, not a finite number: set it to a number in "
            "config/config.yaml or in the --config/--configfile that set it "
            "(config/README.md documents every key)"
        )


def check_config(config: Mapping[str, Any]) -> None:
    """Raise ConfigError for the first semantically invalid value in `config`."""
    _require_finite(config)
    last_seed = config["vae"]["seed"] + config["vae"].get("replicates", 1) - 1
    if last_seed > MAX_SEED:
        raise ConfigError(
            f"config keys 'vae.seed' and 'vae.replicates' give replicate seeds up to "
            f"{last_seed}, past the largest seed {MAX_SEED}: lower vae.seed (replicate r "
            "trains with vae.seed + r)"
        )
    datasets = config["datasets"]
    if config["dataset"] not in datasets:
        raise ConfigError(
            f"config key 'dataset' is '{config['dataset']}', which is not a known dataset; "
            f"choose one of {sorted(datasets)} (or add it under 'datasets')"
        )

    bayesnet = config["bayesnet"]
    _require_distribution(bayesnet["p_b"], "bayesnet.p_b")
    _require_distribution(bayesnet["p_f"], "bayesnet.p_f")
    for b, by_f in enumerate(bayesnet["p_g_given_bf"]):
        for f, p_g in enumerate(by_f):
            _require_distribution(p_g, f"bayesnet.p_g_given_bf[{b}][{f}]")
    for g, p_d in enumerate(bayesnet["p_d_given_g"]):
        _require_distribution(p_d, f"bayesnet.p_d_given_g[{g}]")

    mixture = config["mixture"]
    n_components = len(mixture["weights"])
    for key in ("means", "covariances"):
        if len(mixture[key]) != n_components:
            raise ConfigError(
                f"config key 'mixture.{key}' has {len(mixture[key])} entries but "
                f"'mixture.weights' has {n_components}: give one per mixture component"
            )
    _require_distribution(mixture["weights"], "mixture.weights")
    for k, covariance in enumerate(mixture["covariances"]):
        _require_positive_definite(covariance, f"mixture.covariances[{k}]")

    _require_distinct_file_names(mixture["condition_on"])
    _require_increasing(config["vae"]["grid_quantiles"], "vae.grid_quantiles")
    kinds = {model["full_covariance"] for model in config["vae"]["models"].values()}
    if kinds != {True, False}:
        raise ConfigError(
            "config key 'vae.models' needs at least one model with full_covariance: false "
            "(Figures 6 and 7 show each) and one with full_covariance: true (Figure 8), but "
            f"every model has full_covariance: {kinds.pop()}"
        )
    for pair in config["vae"].get("comparisons", []):
        unknown = [name for name in pair if name not in config["vae"]["models"]]
        if unknown or pair[0] == pair[1]:
            raise ConfigError(
                f"config key 'vae.comparisons' holds {pair}: name two different models of "
                f"vae.models ({', '.join(config['vae']['models'])})"
            )
    plots = config["plots"]
    for key in ("regression_log_limits", "conditional_xlim"):
        if key in plots:
            _require_increasing(plots[key], f"plots.{key}")
