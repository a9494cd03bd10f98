"""The report's template engine and the shaping of its values and tables (no workflow run)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from prml_pipeline.report import discussion, tables
from prml_pipeline.report import values as report_values_module
from prml_pipeline.report.template import TemplateError, render


def test_placeholders_and_formats():
    text = render("p = {{ a.p | pct }}, x = {{ a.x | f3 }}, n = {{ n | int }}\n",
                  {"a": {"p": 0.2125, "x": 1.23456}, "n": 7.0})
    assert text == "p = 21.25\\%, x = 1.235, n = 7\n"


def test_an_unknown_key_names_the_key_and_the_line():
    with pytest.raises(TemplateError, match=r"^report.md, line 3: no value 'vae.small.epochz';"):
        render("one\ntwo\n{{ vae.small.epochs }} or {{ vae.small.epochz | int }}\n",
               {"vae": {"small": {"epochs": 2}}})
    with pytest.raises(TemplateError, match=r"^report.md, line 1: no value 'tablez';"):
        render("{{ tablez.vae }}", {"tables": {}})
    with pytest.raises(TemplateError, match=r"^report.md, line 2: no value 'm.elbo'"):
        render("{% for m in models %}\n{{ m.elbo }}{% endfor %}", {"models": [{"x": 1}]})


def test_an_unknown_format_names_the_line_and_the_formats():
    with pytest.raises(TemplateError, match=r"line 2: No filter named 'f9'.*f2, f3"):
        render("ok\n{{ x | f9 }}\n", {"x": 1})


def test_loops_over_the_models_in_config_order():
    models = [{"title": "A", "neg_elbo": 1.0}, {"title": "B", "neg_elbo": 2.5},
              {"title": "C", "neg_elbo": 3.25}]
    template = ('{% for m in models %}{{ m.neg_elbo | f2 }} for {{ m.title }}'
                '{{ "." if loop.last else (" and " if loop.revindex == 2 else ", ") }}'
                '{% endfor %}')
    assert render(template, {"models": models}) == "1.00 for A, 2.50 for B and 3.25 for C."


def record(rule, wildcards, script, inputs):
    return {"rule": rule, "wildcards": wildcards, "script": {"path": script},
            "code": {"commit": "0123456789abcdef", "dirty": False}, "inputs": inputs,
            "machine": {"host": "h", "slurm_job_id": None, "threads": 1},
            "time": {"start": "2026-01-01T00:00:00+00:00"}}


def test_provenance_inputs_name_the_model_they_belong_to():
    rec = record("figure", {"name": "vae_latents"}, "scripts/figures/vae_latents.py", {
        "results/vae/small/latents.npz": "a" * 64, "results/vae/large/latents.npz": "b" * 64,
        "src/prml_pipeline/plotting.py": "c" * 64})
    table = tables.provenance_table([("F6", "Figure: vae latents", rec)])
    assert "vae/large/latents.npz bbbbbbbb, vae/small/latents.npz aaaaaaaa" in table
    assert "plotting.py" not in table  # code is named by its script, not as data
    assert "| [F6]{#prov-f6} | Figure: vae latents | `scripts/figures/vae_latents.py` |" in table
    assert "0123456" not in table  # the commit is stated once, beside the table
    assert table.splitlines()[0].count("|") == 5  # four columns


def made_up_runs(models, seeds, n=400):
    """Per-image -ELBO and -IWAE of each (model, seed) with known means and spreads: model k
    is 10 k nats worse than model 0 on every image, plus its own noise."""
    rng = np.random.default_rng(0)
    base = rng.normal(150.0, 20.0, n)
    runs = {}
    for k, name in enumerate(models):
        for seed in seeds:
            noise = rng.normal(0.0, 1.0, n)
            runs[(name, seed)] = {"neg_iwae": base + 10 * k + noise,
                                  "neg_elbo": base + 10 * k + noise + 3.0}
    return runs


def made_up_latents(models, n=300):
    """Latent means of two well separated classes (0, 1) and two overlapping ones (2, 3)."""
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2, 3], n // 4)
    centres = np.array([[-5.0, 0.0], [5.0, 0.0], [0.0, 0.1], [0.0, -0.1]])
    return {m: {"latents": centres[labels] + rng.normal(0, 0.5, (n, 2)), "labels": labels}
            for m in models}


def test_report_values_from_made_up_artifacts():
    models = {"small": {"title": "Small", "hidden": [10], "full_covariance": False},
              "big": {"title": "Big", "hidden": [30, 10], "full_covariance": True}}
    experiments = {"base": {"title": "Base", "x_mean": [0, 0], "x_var": [1, 1],
                            "target_var": 0.1}}
    cfg = {
        "dataset": "mnist", "dataset_name": "MNIST", "item_noun": "digits",
        "models": models, "experiments": experiments,
        "regression": {"n_samples": 5, "noise_var": 0.1, "theta": [1, 2]},
        "mixture": {"weights": [0.5, 0.5], "means": [[0, 0], [1, 1]],
                    "covariances": [np.eye(2).tolist()] * 2, "n_samples": 100},
        "bayesnet": {"p_b": [0.1, 0.9], "p_f": [0.1, 0.9], "p_d_given_g": [[0.9, 0.1],
                     [0.1, 0.9]], "p_g_given_bf": [[[0.9, 0.1], [0.8, 0.2]],
                                                   [[0.8, 0.2], [0.2, 0.8]]]},
        "vae": {"batch_size": 50, "learning_rate": 0.001, "grid_size": 10, "iwae_samples": 8,
                "comparisons": [["big", "small"]]},
        "figure_models": {"diagonal": ["small"], "fullcov": "big"},
        "class_names": ["zero", "one", "two", "three"],
        "data": {"normalize_mean": 0.1307},
    }
    records = [record("figure", {"name": "f"}, "src/prml_pipeline/figures/f.py", {}),
               record("fuel_gauge", {}, "scripts/fuel_gauge.py", {}),
               record("regression_experiment", {"experiment": "base"}, "s.py", {}),
               record("mixture_conditional", {"value": "1"}, "s.py", {}),
               *(record("encode_latents", {"model": m}, "s.py", {}) for m in models),
               *(record(rule, {"model": m, "seed": seed}, "s.py", {}) for m in models
                 for seed in (1, 2) for rule in ("train_vae", "iwae_bound"))]
    per_image = made_up_runs(models, (1, 2))
    values = report_values_module.report_values(
        cfg, figures={"f": "results/figures/f.png"}, records=records,
        fuel={"p_d0": 0.315, "p_f0_d0": 0.0667, "p_f0_given_d0": 0.2125, "p_b0_d0": 0.1,
              "p_f0_b0_d0": 0.011, "p_f0_given_d0_b0": 0.1096},
        regression={"base": {"post_mean": np.array([1.0, -2.0]), "post_cov": np.eye(2) * 0.5,
                             "predictive_variance": np.array([0.2, 0.4])}},
        conditionals=[{"value": np.float64(1.0), "weights": np.array([0.3, 0.7]),
                       "means": np.array([[0.1], [0.9]])}],
        seeds=[1, 2],
        metrics={(m, s): {"epochs": 3 + k, "epoch_train_neg_elbo": [200.0, 190.0, 185.0, 180.0]}
                 for k, m in enumerate(models) for s in (1, 2)},
        runinfo={(m, seed): {"train_seconds": 1.5 * seed, "device": "cpu"}
                 for m in models for seed in (1, 2)},
        per_image=per_image, latents=made_up_latents(models),
        code={"commit": "abcdef0123", "dirty": True, "time": 1_764_000_000})
    big = values["vae"]["big"]
    means = [per_image[("big", s)]["neg_iwae"].mean() for s in (1, 2)]
    assert big["neg_iwae"] == pytest.approx(np.mean(means))
    assert big["neg_iwae_sd"] == pytest.approx(np.std(means, ddof=1))
    assert big["neg_iwae_se"] == pytest.approx(np.mean(
        [per_image[("big", s)]["neg_iwae"].std(ddof=1) / 20 for s in (1, 2)]))
    assert big["neg_elbo"] == pytest.approx(big["neg_iwae"] + 3.0)
    # the paired difference is 10 nats with a standard error of the noise alone, not of the
    # images' own spread (20 nats)
    row = values["vae"]["comparison_table"].splitlines()[2]
    assert "| +10." in row and "| B\u00a0better |" in row
    assert values["regression"]["base"]["post_mean"] == [1.0, -2.0]
    assert "(1, −2)" in values["tables"]["regression"]  # a true minus sign
    assert values["meta"]["commit"] == "abcdef0 (dirty)"
    assert values["meta"]["date"] == "24 November 2025" and values["meta"]["epoch"] > 0
    assert values["data"]["threshold"] == 34
    assert values["vae"]["nn_accuracy"]["small"] == pytest.approx(0.75, abs=0.1)
    assert "the best separated class is" in values["vae"]["sentences"]["latent"]
    assert "with 2 seeds" in values["vae"]["sentences"]["seeds"]
    assert values["figures"]["f"] == {
        "path": "results/figures/f", "row": "F1",
        "note": "Code and inputs: [row F1](#prov-f1) of @tab:provenance."}
    provenance = values["tables"]["provenance"]
    assert "[F1]{#prov-f1} | @fig:f | `figures/f.py` | none |" in provenance
    assert "@tab:vae, Big, seed 2" in provenance
    assert values["tables"]["training"].count("| Big |") == 2
    assert "| $p(F=0 \\mid D=0)$ | 0.2125 |" in values["tables"]["fuel_gauge"]


def test_paired_differences_are_judged_by_their_own_standard_error():
    rng = np.random.default_rng(2)
    images = rng.normal(150, 30, 10_000)
    a = [images + rng.normal(0, 1, images.size)]
    b = [images + 0.2 + rng.normal(0, 1, images.size)]
    difference = discussion.paired(a, b)
    assert difference["mean"] == pytest.approx(-0.2, abs=0.05)
    assert difference["se"] == pytest.approx(np.sqrt(2) / 100, rel=0.05)
    assert difference["real"]  # 0.2 nats against an SE of 0.014; unpaired SEs would be 0.3
    stats = discussion.measure_stats(a)
    assert stats["se"] == pytest.approx(30 / 100, rel=0.05) and stats["sd"] is None


def test_the_discussion_is_chosen_from_the_data():
    titles = {"s": "Small", "m": "Medium", "l": "Large"}
    stats = {n: {"mean": v, "se": 0.3} for n, v in zip(titles, (178.1, 151.6, 136.7),
                                                          strict=True)}
    steps = [{"mean": -26.5, "se": 0.2, "real": True}, {"mean": -14.9, "se": 0.1, "real": True}]
    falling = discussion.trend_sentence(list(titles), titles, stats, steps)
    assert falling.startswith("The estimate falls with every step in size: 178.10 ± 0.30 nats")
    assert "26.50 (± 0.20) and 14.90 (± 0.10) nats" in falling
    mixed = discussion.trend_sentence(list(titles), titles, stats,
                                      [steps[0], {**steps[1], "mean": 2.0}])
    assert mixed.startswith("Size does not order the models")
    models = {"s": {"title": "Small", "epochs": 10}, "m": {"title": "Medium", "epochs": 10},
              "l": {"title": "Large", "epochs": 20}}
    curves = {"l": [200.0 - i for i in range(20)]}
    confound = discussion.epochs_sentence(list(titles), models, curves)
    assert "Large trained for 20 epochs, the Small for 10" in confound
    assert "from 191.00 after epoch 10 to 181.00 after epoch 20, a gain of 10.00" in confound
    same = discussion.epochs_sentence(["s", "m"], models, curves)
    assert same == "All of them trained for 10 epochs, so their differences come from size alone."


@pytest.mark.parametrize("shift, reading", [
    (0.8, "worse than the Large by 0.80"), (-0.8, "better than the Large by 0.80"),
    (0.001, "within twice its standard error")])
def test_the_full_covariance_result_is_discussed_whatever_its_sign(shift, reading):
    rng = np.random.default_rng(3)
    images = rng.normal(140, 25, 5000)
    per_image = {"l": {"neg_iwae": [images], "neg_elbo": [images + 3]},
                 "f": {"neg_iwae": [images + shift + rng.normal(0, 0.5, images.size)],
                       "neg_elbo": [images + 2 + shift]}}
    stats = {n: {m: discussion.measure_stats(v) for m, v in per_image[n].items()}
             for n in per_image}
    models = {"l": {"title": "Large"}, "f": {"title": "Full"}}
    text = discussion.covariance_sentences("f", "l", models, stats, per_image)
    assert reading in text
    assert "is 2.00 nats for the full covariance and 3.00 for the diagonal one" in text


def test_no_sentence_of_the_discussion_repeats_its_start():
    rng = np.random.default_rng(4)
    images = rng.normal(140, 25, 1000)
    names = ["s", "m", "l", "f"]
    per_image = {n: {"neg_iwae": [images + k], "neg_elbo": [images + k + 2]}
                 for k, n in enumerate(names)}
    stats = {n: {m: discussion.measure_stats(v) for m, v in per_image[n].items()} for n in names}
    titles = {n: n.upper() for n in names}
    models = {n: {"title": titles[n], "epochs": 10 + 10 * (n == "l")} for n in names}
    steps = [discussion.paired(per_image[b]["neg_iwae"], per_image[a]["neg_iwae"])
             for a, b in (("s", "m"), ("m", "l"))]
    accuracy = {n: {"overall": 0.6, "per_class": {0: 0.9, 1: 0.3}, "n": 1000} for n in names}
    text = " ".join([
        discussion.trend_sentence(names[:3], titles, {n: stats[n]["neg_iwae"] for n in names},
                                  steps),
        discussion.epochs_sentence(names[:3], models, {"l": list(range(20, 0, -1))}),
        discussion.covariance_sentences("f", "l", models, stats, per_image),
        discussion.seeds_sentence([42], stats),
        discussion.latent_sentence(names, titles, accuracy, ["T-shirt", "Trouser"])])
    sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if s]
    starts = [s[:60] for s in sentences]
    assert len(sentences) >= 8 and len(set(starts)) == len(starts), starts


def test_numbers_print_a_true_minus_sign():
    assert tables.number(-0.9556, 3) == "\u2212" + "0.956"
    assert tables.number(0.83, 2, sign=True) == "+0.83"
    assert tables.fmt_vector([-0.95560552, 1.0877742], 3) == "(\u2212" + "0.956, 1.088)"


def test_the_code_appendix_quotes_definitions_from_the_file(tmp_path):
    from prml_pipeline.report.listings import definitions

    source = tmp_path / "m.py"
    source.write_text("import os\n\n\n@decorate\ndef a():\n    return 1\n\n\n"
                      "class B:\n    x = 2\n\n\nC = 3\n")
    assert definitions(source, ["B", "a"]) == (
        "@decorate\ndef a():\n    return 1\n\n\nclass B:\n    x = 2")
    with pytest.raises(KeyError, match="defines no missing"):
        definitions(source, ["missing"])


def separator_widths(table: str) -> list[int]:
    """The relative widths a pipe table gives pandoc: its separator's dashes, less the two
    alignment marks of each column."""
    return [len(cell) - 2 for cell in table.splitlines()[1].strip("|").split("|")]


def test_no_column_is_narrower_than_its_longest_word():
    long_path = "regression/x0_var_low_mean_high.npz"
    rows = [(f"Figure {i}: a caption of several words", "rule `figure`, script "
             "`figures/mixture_conditionals.py`, commit 0123456", f"{long_path} 82b574db, "
             f"mixture/conditional_x1=1.npz 0036f8b5, vae/medium/seed42/weights.pt 212bc9da")
            for i in range(3)]
    widths = separator_widths(tables.markdown_table(["Item", "Made by", "Input data"], rows))
    assert widths[1] >= len("figures/mixture_conditionals.py")
    assert widths[2] >= len(long_path)
    assert widths[0] >= len("caption")
    # The long text gets the room: the table fills the page instead of wrapping every word.
    assert widths[2] > widths[1] > widths[0]
    assert sum(widths) <= 110


def test_a_narrow_table_keeps_its_natural_widths():
    table = tables.markdown_table(["Quantity", "Value"], [("$p(D=0)$", "0.3150")], "lr")
    assert separator_widths(table) == [len("Quantity"), len("0.3150")]
    assert table.splitlines()[1] == "|:---------|-------:|"


def test_math_and_code_count_as_printed():
    assert tables.column_widths(["$\\sigma_y^2$", "`a_b`"], [("1", "2")]) == [3, 3]


def test_training_times_are_printed_in_utc():
    assert tables.utc_time("2026-11-24T23:52:05+01:00") == "2026\u201111\u201124\u00a022:52:05"


def test_word_lists():
    assert [tables.word_list(words) for words in (["a"], ["a", "b"], ["a", "b", "c"])] == [
        "a", "a and b", "a, b and c"]


def test_the_report_source_renders_with_the_default_config():
    """report/report.md with made-up artifacts for every experiment, model and figure of
    config/config.yaml: every placeholder has its value (no workflow run)."""
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    models, experiments = config["vae"]["models"], config["regression"]["experiments"]
    modules = [path.stem for path in sorted((repo / "src/prml_pipeline/figures").glob("*.py"))
               if path.stem != "style" and not path.stem.startswith("_")]
    figures = [name for module in modules for name in (
        [f"{module}-{m}" for m in models] if module == "vae_grids" else [module])]
    seeds = [config["vae"]["seed"]]
    conditions = config["mixture"]["condition_on"]
    diagonal = [m for m in models if not models[m]["full_covariance"]]
    cfg = {"dataset": "mnist", "dataset_name": "MNIST", "item_noun": "digits",
           "models": models, "experiments": experiments,
           "regression": {k: v for k, v in config["regression"].items() if k != "experiments"},
           "mixture": config["mixture"], "bayesnet": config["bayesnet"],
           "vae": {k: v for k, v in config["vae"].items() if k != "models"},
           "figure_models": {"diagonal": diagonal, "fullcov": "fullcov"},
           "class_names": config["datasets"]["mnist"]["labels"],
           "data": config["data"]}
    records = [*(record("figure", {"name": name}, f"src/prml_pipeline/figures/{name}.py", {})
                 for name in figures),
               record("fuel_gauge", {}, "scripts/fuel_gauge.py", {}),
               *(record("regression_experiment", {"experiment": e}, "s.py", {})
                 for e in experiments),
               *(record("mixture_conditional", {"value": f"{v:g}"}, "s.py", {})
                 for v in conditions),
               *(record("encode_latents", {"model": m}, "s.py", {}) for m in models),
               *(record(rule, {"model": m, "seed": s}, "s.py", {}) for m in models
                 for s in seeds for rule in ("train_vae", "iwae_bound"))]
    runs = [(m, s) for m in models for s in seeds]
    values = report_values_module.report_values(
        cfg, figures={name: f"results/figures/{name}.png" for name in figures},
        records=records,
        fuel={"p_d0": 0.315, "p_f0_d0": 0.0667, "p_f0_given_d0": 0.2125, "p_b0_d0": 0.1,
              "p_f0_b0_d0": 0.011, "p_f0_given_d0_b0": 0.1096},
        regression={e: {"post_mean": np.array([1.0, 2.0]), "post_cov": np.eye(2) * 0.5,
                        "predictive_variance": np.array([0.2, 0.4])} for e in experiments},
        conditionals=[{"value": np.float64(v), "weights": np.array([0.3, 0.7]),
                       "means": np.array([[0.1], [0.9]])} for v in conditions],
        seeds=seeds,
        metrics={run: {"epochs": models[run[0]]["epochs"],
                       "epoch_train_neg_elbo": [200.0 - e for e in range(20)]} for run in runs},
        runinfo={run: {"train_seconds": 1.5, "device": "cpu"} for run in runs},
        per_image=made_up_runs(models, seeds), latents=made_up_latents(models),
        code={"commit": "abcdef0123", "dirty": False, "time": 1_764_000_000})
    values["listings"] = {"model": "class VAE: ...", "loss": "def loss(): ...",
                          "train_step": "def train_step(): ..."}
    text = render((repo / "report/report.md").read_text(), values)
    assert "{{" not in text and "{%" not in text
    assert "21.25\\%" in text
    assert ("the Small VAE (10), with one hidden layer (10 units) and a diagonal covariance; "
            "the Medium VAE (100, 10), with two hidden layers (100, 10 units)") in text
    assert ("under the Small VAE (10), Medium VAE (100, 10) and Large VAE (300, 60, 10), "
            "coloured by true label") in text
    assert "{#fig:vae_grids-medium number=7b}" in text
    assert "{#fig:vae_grids-fullcov number=8b}" in text
    assert "This run has four; @tab:regression lists" in " ".join(text.split())
    assert 'date: "24 November 2025"' in text
