"""Every number, phrase and table of the report, from loaded artifacts and their records.

scripts/report_values.py loads the artifacts and calls :func:`report_values`; the result is
results/report/values.json, which the template (:mod:`.template`) fills in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prml_pipeline.errors import PipelineError
from prml_pipeline.report.tables import (
    commit_label,
    comparison_sentence,
    conditionals_table,
    covariance,
    cpt_values,
    figure_note,
    fmt_vector,
    fuel_gauge_table,
    number_word,
    provenance_table,
    regression_values,
    seed_stats,
    training_table,
    vae_table,
    word_list,
)


def index_records(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str | None], Any]:
    """Records by rule and wildcard values: ("train_vae", "small/42"), ("fuel_gauge", None)."""
    return {(record["rule"], "/".join(map(str, record["wildcards"].values())) or None): record
            for record in records}


def summarise_runs(models: Mapping[str, Any], seeds: Sequence[int],
                   metrics: Mapping[tuple[str, int], Mapping[str, Any]],
                   runinfo: Mapping[tuple[str, int], Mapping[str, Any]],
                   iwae: Mapping[tuple[str, int], Mapping[str, Any]]) -> dict[str, Any]:
    """Per model, over its seeds: -ELBO and -IWAE statistics, mean training time, device."""
    summary = {}
    for name, model in models.items():
        runs = [(name, seed) for seed in seeds]
        devices = sorted({runinfo[run]["device"] for run in runs})
        summary[name] = {
            "name": name, "title": model["title"], "epochs": metrics[runs[0]]["epochs"],
            "neg_elbo": seed_stats([metrics[run]["test_neg_elbo"] for run in runs]),
            "neg_iwae": seed_stats([iwae[run]["test_neg_iwae"] for run in runs]),
            "train_seconds": float(np.mean([runinfo[run]["train_seconds"] for run in runs])),
            "device": ", ".join(devices),
        }
    return summary


def named_numbers(numbers: Mapping[str, Mapping[str, Any]],
                  records: Sequence[Mapping[str, Any]]
                  ) -> tuple[dict[str, Any], list[tuple[str, Mapping[str, Any]]]]:
    """The `numbers` outputs by file name (results/entropy/coin.json -> "coin") and, for the
    provenance table, each with the record of the job that wrote it."""
    by_output = {os.path.normpath(out): record for record in records
                 for out in record.get("outputs", {})}
    named: dict[str, Any] = {}
    sources = []
    for path, value in sorted(numbers.items()):
        name = os.path.splitext(os.path.basename(path))[0]
        if name in named:
            raise PipelineError(f"two outputs named `numbers` share the file name {name!r} "
                                f"({path}): rename one, the report reads them by that name")
        named[name] = value
        sources.append((f"numbers `{name}`", by_output[os.path.normpath(path)]))
    return named, sources


def report_values(cfg: Mapping[str, Any], *, figures: Mapping[str, str],
                  records: Sequence[Mapping[str, Any]], fuel: Mapping[str, float],
                  regression: Mapping[str, Mapping[str, np.ndarray]],
                  conditionals: Sequence[Mapping[str, Any]], seeds: Sequence[int],
                  metrics: Mapping[tuple[str, int], Mapping[str, Any]],
                  runinfo: Mapping[tuple[str, int], Mapping[str, Any]],
                  iwae: Mapping[tuple[str, int], Mapping[str, Any]],
                  code: Mapping[str, Any],
                  numbers: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Every number, phrase and table of the report, from loaded artifacts and records.

    `figures` maps figure names to their paths; `regression` is keyed by experiment;
    `metrics`, `runinfo` and `iwae` by (model, seed); `code` is the commit state;
    `numbers` maps each path of a job output named `numbers` to its loaded JSON.
    """
    by_job = index_records(records)
    experiments, models, mixture = cfg["experiments"], cfg["models"], cfg["mixture"]
    regression_numbers, regression_table = regression_values(experiments, regression)
    summary = summarise_runs(models, seeds, metrics, runinfo, iwae)
    model_values = {name: {**row, "neg_elbo": row["neg_elbo"]["mean"],
                           "neg_elbo_sd": row["neg_elbo"]["sd"],
                           "neg_iwae": row["neg_iwae"]["mean"],
                           "neg_iwae_sd": row["neg_iwae"]["sd"],
                           "hidden": list(models[name]["hidden"]),
                           "hidden_text": ", ".join(map(str, models[name]["hidden"])),
                           "layers": number_word(len(models[name]["hidden"])),
                           "covariance": covariance(models[name])}
                    for name, row in summary.items()}
    comparisons = [comparison_sentence(models[a]["title"], models[b]["title"],
                                       summary[a]["neg_iwae"], summary[b]["neg_iwae"])
                   for a, b in cfg["vae"]["comparisons"]]
    values: dict[str, Any] = {
        "meta": {
            "dataset": cfg["dataset"],
            "dataset_name": cfg["dataset_name"],
            "item_noun": cfg["item_noun"],
            "commit": commit_label({"code": code}),
        },
        "bayesnet": {**cpt_values(cfg["bayesnet"]), **fuel},
        "regression": {
            "n_samples": cfg["regression"]["n_samples"],
            "noise_var": cfg["regression"]["noise_var"],
            "theta": fmt_vector(cfg["regression"]["theta"], 0),
            "n_experiments": number_word(len(experiments)),
            **regression_numbers,
        },
        "mixture": {
            "components": number_word(len(mixture["weights"])),
            "covariance_phrase": ("identity covariances" if all(
                np.array_equal(c, np.eye(2)) for c in mixture["covariances"])
                else "covariances " + " and ".join(map(str, mixture["covariances"]))),
            "n_samples": mixture["n_samples"],
            "weights": fmt_vector(mixture["weights"]),
            "means": " and ".join(fmt_vector(mean, 0) for mean in mixture["means"]),
            # Table 3's numbers, for tools that read values.json (compare)
            "conditionals": [{"x1": float(c["value"]),
                              "weights": [float(w) for w in c["weights"]],
                              "means": [float(m) for m in np.asarray(c["means"]).ravel()]}
                             for c in conditionals],
        },
        "vae": {
            "batch_size": cfg["vae"]["batch_size"],
            "learning_rate": f"{cfg['vae']['learning_rate']:g}",
            "grid_size": cfg["vae"]["grid_size"],
            "iwae_samples": cfg["vae"]["iwae_samples"],
            "n_seeds": len(seeds),
            "seeds": ", ".join(map(str, seeds)),
            "comparisons": comparisons,
            "models": list(model_values.values()),
            "n_models": number_word(len(models)),
            "diagonal_titles": word_list([models[name]["title"]
                                          for name in cfg["figure_models"]["diagonal"]]),
            "fullcov_title": models[cfg["figure_models"]["fullcov"]]["title"],
            **model_values,
        },
        "figures": {name: {"path": path, "note": figure_note(by_job[("figure", name)])}
                    for name, path in figures.items()},
    }
    number_sources = [
        ("$P(F=0 \\mid D=0)$, $P(F=0 \\mid D=0, B=0)$", by_job[("fuel_gauge", None)]),
        *((f"posterior of {experiments[name]['title']}",
           by_job[("regression_experiment", name)]) for name in experiments),
        *((f"mixing coefficients at $x_1 = {float(c['value']):g}$",
           by_job[("mixture_conditional", f"{float(c['value']):g}")]) for c in conditionals),
        *((f"test $-$ELBO of {models[name]['title']}, seed {seed}",
           by_job[("train_vae", f"{name}/{seed}")]) for name in models for seed in seeds),
        *((f"IWAE bound of {models[name]['title']}, seed {seed}",
           by_job[("iwae_bound", f"{name}/{seed}")]) for name in models for seed in seeds),
    ]
    values["numbers"], numbers_sources = named_numbers(numbers or {}, records)
    number_sources += numbers_sources
    values["tables"] = {
        "fuel_gauge": fuel_gauge_table(fuel),
        "regression": regression_table,
        "mixture_conditionals": conditionals_table(conditionals),
        "vae": vae_table(models, summary, cfg["vae"]["iwae_samples"]),
        "provenance": provenance_table(
            [(f"Figure: {name.replace('_', ' ')}", by_job[("figure", name)])
             for name in figures]),
        "provenance_numbers": provenance_table(number_sources),
        "training": training_table(
            models, seeds, {key: record for (rule, key), record in by_job.items()
                            if rule == "train_vae"}, runinfo),
    }
    return values
