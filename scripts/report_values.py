"""Collect every number, table and provenance note of the report from the artifacts."""

import numpy as np

from prml_pipeline import report
from prml_pipeline.artifacts import load_arrays, load_json, save_json
from prml_pipeline.provenance import git_state, run_step


def number_word(count):
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    return words[count - 1] if 1 <= count <= len(words) else str(count)


def cpt_values(bayesnet):
    """The conditional probability tables as the text quotes them."""
    values = {"p_b0": bayesnet["p_b"][0], "p_f0": bayesnet["p_f"][0],
              "p_d1_given_g1": bayesnet["p_d_given_g"][1][1],
              "p_d0_given_g0": bayesnet["p_d_given_g"][0][0]}
    for b in (0, 1):
        for f in (0, 1):
            values[f"p_g1_given_b{b}_f{f}"] = bayesnet["p_g_given_bf"][b][f][1]
    return values


def main(smk):
    cfg = smk.params.cfg
    records = {}
    for path in smk.input.records:
        record = load_json(path)
        key = next(iter(record["wildcards"].values()), None)
        records[(record["rule"], key)] = record

    fuel = load_json(smk.input.fuel_gauge)
    experiments = cfg["experiments"]
    regression_arrays = {
        name: load_arrays(path, required=("post_mean", "post_cov", "predictive_variance"))
        for name, path in zip(experiments, smk.input.regression, strict=True)
    }
    regression_numbers, regression_table = report.regression_values(experiments,
                                                                     regression_arrays)
    conditionals = [load_arrays(path, required=("value", "weights", "means"))
                    for path in smk.input.conditionals]
    models = cfg["models"]
    metrics = dict(zip(models, map(load_json, smk.input.metrics), strict=True))
    runinfo = dict(zip(models, map(load_json, smk.input.runinfo), strict=True))

    code = git_state(str(smk.scriptdir))
    mixture = cfg["mixture"]
    values = {
        "meta": {
            "dataset": cfg["dataset"],
            "dataset_name": cfg["dataset_name"],
            "item_noun": cfg["item_noun"],
            "commit": report.commit_label({"code": code}),
        },
        "bayesnet": {**cpt_values(cfg["bayesnet"]), **fuel},
        "regression": {
            "n_samples": cfg["regression"]["n_samples"],
            "noise_var": cfg["regression"]["noise_var"],
            "theta": report.fmt_vector(cfg["regression"]["theta"], 0),
            **regression_numbers,
        },
        "mixture": {
            "components": number_word(len(mixture["weights"])),
            "covariance_phrase": ("identity covariances" if all(
                np.array_equal(c, np.eye(2)) for c in mixture["covariances"])
                else "covariances " + " and ".join(map(str, mixture["covariances"]))),
            "n_samples": mixture["n_samples"],
            "weights": report.fmt_vector(mixture["weights"]),
            "means": " and ".join(report.fmt_vector(mean, 0) for mean in mixture["means"]),
        },
        "vae": {
            "batch_size": cfg["vae"]["batch_size"],
            "learning_rate": f"{cfg['vae']['learning_rate']:g}",
            "grid_size": cfg["vae"]["grid_size"],
            **{name: {"epochs": metrics[name]["epochs"],
                      "neg_elbo": metrics[name]["test_neg_elbo"],
                      "train_seconds": runinfo[name]["train_seconds"],
                      "device": runinfo[name]["device"]} for name in models},
        },
        "figures": {
            name: {"path": path, "note": report.figure_note(records[("figure", name)])}
            for name, path in zip(smk.params.figures, smk.input.figures, strict=True)
        },
    }
    number_sources = [
        ("$P(F=0 \\mid D=0)$, $P(F=0 \\mid D=0, B=0)$", records[("fuel_gauge", None)]),
        *((f"posterior of {experiments[name]['title']}",
           records[("regression_experiment", name)]) for name in experiments),
        *((f"mixing coefficients at $x_1 = {float(c['value']):g}$",
           records[("mixture_conditional", f"{float(c['value']):g}")])
          for c in conditionals),
        *((f"test $-$ELBO of {models[name]['title']}", records[("train_vae", name)])
          for name in models),
    ]
    values["tables"] = {
        "fuel_gauge": report.fuel_gauge_table(fuel),
        "regression": regression_table,
        "mixture_conditionals": report.conditionals_table(
            [{"value": c["value"], "weights": c["weights"], "means": c["means"]}
             for c in conditionals]),
        "vae": report.vae_table(models, metrics, runinfo),
        "provenance": report.provenance_table(
            [(f"Figure: {name.replace('_', ' ')}", records[("figure", name)])
             for name in smk.params.figures]),
        "provenance_numbers": report.provenance_table(number_sources),
        "training": report.training_table(
            models, {name: records[("train_vae", name)] for name in models}, runinfo),
    }
    save_json(smk.output.json, values)


run_step(snakemake, main)
