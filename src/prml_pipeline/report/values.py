"""Every number, phrase and table of the report, from loaded artifacts and their records.

scripts/report_values.py loads the artifacts and calls :func:`report_values`; the result is
results/report/values.json, which the template (:mod:`.template`) fills in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from prml_pipeline.errors import PipelineError
from prml_pipeline.report import discussion
from prml_pipeline.report.tables import (
    commit_label,
    conditionals_table,
    covariance,
    cpt_values,
    figure_note,
    fmt_vector,
    fuel_gauge_table,
    number_word,
    provenance_table,
    regression_values,
    short_title,
    training_table,
    unbroken,
    vae_table,
    word_list,
)
from prml_pipeline.sheet.data import binarize_threshold
from prml_pipeline.sheet.neighbours import nearest_neighbour_accuracy

Run = tuple[str, int]
# The work that introduced each dataset (report/references.bib).
DATASET_REFERENCES = {"mnist": "lecun1998", "fashion-mnist": "xiao2017"}


def index_records(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str | None], Any]:
    """Records by rule and wildcard values: ("train_vae", "small/42"), ("fuel_gauge", None)."""
    return {(record["rule"], "/".join(map(str, record["wildcards"].values())) or None): record
            for record in records}


def summarise_runs(models: Mapping[str, Any], seeds: Sequence[int],
                   metrics: Mapping[Run, Mapping[str, Any]],
                   runinfo: Mapping[Run, Mapping[str, Any]],
                   per_image: Mapping[Run, Mapping[str, np.ndarray]]) -> dict[str, Any]:
    """Per model, over its seeds: -ELBO and -IWAE (mean, standard error over test images,
    seed spread), mean training time, device, and the training curve of the first seed."""
    summary = {}
    for name, model in models.items():
        runs = [(name, seed) for seed in seeds]
        summary[name] = {
            "name": name, "title": model["title"], "epochs": metrics[runs[0]]["epochs"],
            **{measure: discussion.measure_stats([per_image[run][measure] for run in runs])
               for measure in discussion.MEASURES},
            "train_seconds": float(np.mean([runinfo[run]["train_seconds"] for run in runs])),
            "device": ", ".join(sorted({runinfo[run]["device"] for run in runs})),
            "curve": [float(v) for v in metrics[runs[0]].get("epoch_train_neg_elbo", [])],
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


def model_values(models: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the text says of each model: its numbers and its architecture in words."""
    return {name: {**{k: v for k, v in row.items() if k not in ("curve", *discussion.MEASURES)},
                   "neg_elbo": row["neg_elbo"]["mean"], "neg_elbo_se": row["neg_elbo"]["se"],
                   "neg_iwae": row["neg_iwae"]["mean"], "neg_iwae_se": row["neg_iwae"]["se"],
                   "neg_iwae_sd": row["neg_iwae"]["sd"],
                   "hidden": list(models[name]["hidden"]),
                   "hidden_text": ", ".join(map(str, models[name]["hidden"])),
                   "layers": number_word(len(models[name]["hidden"])),
                   "covariance": covariance(models[name])}
            for name, row in summary.items()}


def twin(models: Mapping[str, Any], full: str, diagonal: Sequence[str]) -> str:
    """The diagonal model with the full-covariance model's layers (else the largest one)."""
    same = [n for n in diagonal if models[n]["hidden"] == models[full]["hidden"]]
    return same[0] if same else diagonal[-1]


def vae_values(cfg: Mapping[str, Any], seeds: Sequence[int], summary: Mapping[str, Any],
               per_image: Mapping[Run, Mapping[str, np.ndarray]],
               latents: Mapping[str, Mapping[str, np.ndarray]],
               class_names: Sequence[str] | None) -> dict[str, Any]:
    """The VAE section: per-model numbers, the discussion's sentences and its tables' data."""
    models, vae = cfg["models"], cfg["vae"]
    diagonal, full = cfg["figure_models"]["diagonal"], cfg["figure_models"]["fullcov"]
    titles = {name: model["title"] for name, model in models.items()}
    images = {name: {m: [per_image[(name, s)][m] for s in seeds] for m in discussion.MEASURES}
              for name in models}
    steps = [discussion.paired(images[b]["neg_iwae"], images[a]["neg_iwae"])
             for a, b in zip(diagonal, diagonal[1:], strict=False)]
    stats = {name: row["neg_iwae"] for name, row in summary.items()}
    accuracy = {name: nearest_neighbour_accuracy(latents[name]["latents"],
                                                 latents[name]["labels"]) for name in models}
    per_model = model_values(models, summary)
    sentences = {
        "trend": discussion.trend_sentence(diagonal, titles, stats, steps),
        "epochs": discussion.epochs_sentence(
            diagonal, {n: {**models[n], "epochs": summary[n]["epochs"]} for n in models},
            {n: summary[n]["curve"] for n in models}),
        "covariance": discussion.covariance_sentences(
            full, twin(models, full, diagonal), models, summary, images),
        "seeds": discussion.seeds_sentence(seeds, summary),
        "latent": discussion.latent_sentence([*diagonal, full], titles, accuracy, class_names),
    }
    return {
        "batch_size": vae["batch_size"], "learning_rate": f"{vae['learning_rate']:g}",
        "grid_size": vae["grid_size"], "iwae_samples": vae["iwae_samples"],
        "n_seeds": len(seeds), "seeds": ", ".join(map(str, seeds)),
        "n_test": len(next(iter(per_image.values()))["neg_iwae"]),
        "grid_refs": "[" + "; ".join(f"@fig:vae_grids-{n}" for n in diagonal) + "]",
        "sentences": sentences, "models": list(per_model.values()),
        "diagonal": [per_model[n] for n in diagonal], "fullcov": per_model[full],
        "n_models": number_word(len(models)),
        "diagonal_titles": word_list([titles[n] for n in diagonal]),
        "fullcov_title": titles[full],
        "nn_accuracy": {n: accuracy[n]["overall"] for n in models},
        "comparison_table": discussion.comparison_table(
            vae["comparisons"], {n: {**models[n], "epochs": summary[n]["epochs"]}
                                 for n in models}, images),
        **per_model,
    }


def mixture_values(mixture: Mapping[str, Any],
                   conditionals: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
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
    }


def binarisation(mean: float) -> dict[str, Any]:
    """The sheet's Normalize-then-threshold-at-zero as the threshold on the raw 8-bit pixel
    that the data step applies (34 for MNIST's mean 0.1307)."""
    return {"normalize_mean": mean, "threshold": binarize_threshold(mean),
            "dataset_of_mean": "MNIST" if mean == 0.1307 else "configured"}


def meta_values(cfg: Mapping[str, Any], code: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset's names and the source revision with its date (the report's date)."""
    when = datetime.fromtimestamp(int(code["time"]), UTC) if code.get("time") else None
    cite = DATASET_REFERENCES.get(cfg["dataset"])
    return {"dataset": cfg["dataset"], "dataset_name": cfg["dataset_name"],
            "item_noun": cfg["item_noun"], "commit": commit_label({"code": code}),
            "dataset_cite": f" [@{cite}]" if cite else "",
            "date": when.strftime("%-d %B %Y") if when else "undated",
            "epoch": int(code["time"]) if code.get("time") else None}


def provenance_rows(cfg: Mapping[str, Any], figures: Mapping[str, str], seeds: Sequence[int],
                    by_job: Mapping[tuple[str, str | None], Any],
                    conditionals: Sequence[Mapping[str, Any]]
                    ) -> tuple[list[tuple[str, str, Any]], dict[str, str]]:
    """The provenance table's rows (F1... for the figures, N1... for the numbers) and each
    figure's row label."""
    models, experiments = cfg["models"], cfg["experiments"]
    figure_rows = {name: f"F{i}" for i, name in enumerate(figures, start=1)}
    numbers = [
        ("@tab:fuel", by_job[("fuel_gauge", None)]),
        *((f"@tab:regression, {experiments[e]['title']}",
           by_job[("regression_experiment", e)]) for e in experiments),
        *((f"@tab:conditionals, $x_1 = {float(c['value']):g}$",
           by_job[("mixture_conditional", f"{float(c['value']):g}")]) for c in conditionals),
        *((f"@tab:vae, {unbroken(short_title(models[m]['title']))}, seed {s}",
           by_job[("iwae_bound", f"{m}/{s}")]) for m in models for s in seeds),
        *((f"neighbours in the latent space, {unbroken(short_title(models[m]['title']))}",
           by_job[("encode_latents", m)]) for m in models),
    ]
    # a figure's label in report/report.md is fig:<name>: the item cites it
    rows = [(figure_rows[name], f"@fig:{name}", by_job[("figure", name)]) for name in figures]
    rows += [(f"N{i}", label, record) for i, (label, record) in enumerate(numbers, start=1)]
    return rows, figure_rows


def figure_values(figures: Mapping[str, str], rows: Mapping[str, str]) -> dict[str, Any]:
    """Per figure: its path without extension (pandoc adds .pdf or .svg) and its caption's
    provenance note; the parts of a figure (vae_grids-small) under their module, by part."""
    values: dict[str, Any] = {}
    for name, path in figures.items():
        entry = {"path": path.rsplit(".", 1)[0], "note": figure_note(rows[name]),
                 "row": rows[name]}
        module, _, part = name.partition("-")
        if part:
            values.setdefault(module, {})[part] = entry
        else:
            values[module] = entry
    return values


def report_values(cfg: Mapping[str, Any], *, figures: Mapping[str, str],
                  records: Sequence[Mapping[str, Any]], fuel: Mapping[str, float],
                  regression: Mapping[str, Mapping[str, np.ndarray]],
                  conditionals: Sequence[Mapping[str, Any]], seeds: Sequence[int],
                  metrics: Mapping[Run, Mapping[str, Any]],
                  runinfo: Mapping[Run, Mapping[str, Any]],
                  per_image: Mapping[Run, Mapping[str, np.ndarray]],
                  latents: Mapping[str, Mapping[str, np.ndarray]],
                  code: Mapping[str, Any],
                  numbers: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Every number, phrase and table of the report, from loaded artifacts and records.

    `figures` maps figure names to their paths; `regression` is keyed by experiment;
    `metrics`, `runinfo` and `per_image` (each test image's -ELBO and -IWAE) by (model,
    seed); `latents` (latents, labels) by model; `code` is the commit state and time;
    `numbers` maps each path of a job output named `numbers` to its loaded JSON.
    """
    by_job = index_records(records)
    models = cfg["models"]
    regression_numbers, regression_table = regression_values(cfg["experiments"], regression)
    summary = summarise_runs(models, seeds, metrics, runinfo, per_image)
    rows, figure_rows = provenance_rows(cfg, figures, seeds, by_job, conditionals)
    named, sources = named_numbers(numbers or {}, records)
    first = sum(1 for row in rows if row[0].startswith("N")) + 1
    rows += [(f"N{i}", label, record) for i, (label, record) in enumerate(sources, start=first)]
    return {
        "numbers": named,
        "meta": meta_values(cfg, code),
        "bayesnet": {**cpt_values(cfg["bayesnet"]), **fuel},
        "regression": {
            "n_samples": cfg["regression"]["n_samples"],
            "noise_var": cfg["regression"]["noise_var"],
            "theta": fmt_vector(cfg["regression"]["theta"], 0),
            "n_experiments": number_word(len(cfg["experiments"])),
            **regression_numbers,
        },
        "mixture": mixture_values(cfg["mixture"], conditionals),
        "data": binarisation(cfg["data"]["normalize_mean"]),
        "vae": vae_values(cfg, seeds, summary, per_image, latents, cfg.get("class_names")),
        "figures": figure_values(figures, figure_rows),
        "tables": {
            "fuel_gauge": fuel_gauge_table(fuel),
            "regression": regression_table,
            "mixture_conditionals": conditionals_table(conditionals),
            "vae": vae_table(models, summary, cfg["vae"]["iwae_samples"]),
            "provenance": provenance_table(rows),
            "training": training_table(
                models, seeds, {key: record for (rule, key), record in by_job.items()
                                if rule == "train_vae"}, runinfo),
        },
    }
