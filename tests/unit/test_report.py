"""The report's template engine and the shaping of its values and tables (no workflow run)."""

from __future__ import annotations

import numpy as np
import pytest

from prml_pipeline.report import tables
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
    table = tables.provenance_table([("Figure: vae latents", rec)])
    assert "vae/large/latents.npz bbbbbbbb, vae/small/latents.npz aaaaaaaa" in table
    assert "plotting.py" not in table  # code is named by the commit, not as data
    assert "rule `figure`, script `figures/vae_latents.py`, commit 0123456" in table
    assert table.splitlines()[0].count("|") == 4  # three columns


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
    }
    records = [record("figure", {"name": "f"}, "scripts/figures/f.py", {}),
               record("fuel_gauge", {}, "scripts/fuel_gauge.py", {}),
               record("regression_experiment", {"experiment": "base"}, "s.py", {}),
               record("mixture_conditional", {"value": "1"}, "s.py", {}),
               *(record(rule, {"model": m, "seed": seed}, "s.py", {}) for m in models
                 for seed in (1, 2) for rule in ("train_vae", "iwae_bound"))]
    values = report_values_module.report_values(
        cfg, figures={"f": "results/figures/f.png"}, records=records,
        fuel={"p_d0": 0.315, "p_f0_d0": 0.0667, "p_f0_given_d0": 0.2125, "p_b0_d0": 0.1,
              "p_f0_b0_d0": 0.011, "p_f0_given_d0_b0": 0.1096},
        regression={"base": {"post_mean": np.array([1.0, 2.0]), "post_cov": np.eye(2) * 0.5,
                             "predictive_variance": np.array([0.2, 0.4])}},
        conditionals=[{"value": np.float64(1.0), "weights": np.array([0.3, 0.7]),
                       "means": np.array([[0.1], [0.9]])}],
        seeds=[1, 2],
        metrics={("small", 1): {"epochs": 3, "test_neg_elbo": 190.5},
                 ("small", 2): {"epochs": 3, "test_neg_elbo": 191.5},
                 ("big", 1): {"epochs": 4, "test_neg_elbo": 150.25},
                 ("big", 2): {"epochs": 4, "test_neg_elbo": 150.75}},
        runinfo={(m, seed): {"train_seconds": 1.5 * seed, "device": "cpu"}
                 for m in models for seed in (1, 2)},
        iwae={("small", 1): {"test_neg_iwae": 185.0}, ("small", 2): {"test_neg_iwae": 186.0},
              ("big", 1): {"test_neg_iwae": 148.0}, ("big", 2): {"test_neg_iwae": 149.0}},
        code={"commit": "abcdef0123", "dirty": True})
    assert [m["name"] for m in values["vae"]["models"]] == ["small", "big"]
    assert values["vae"]["big"]["neg_elbo"] == 150.5
    assert values["vae"]["big"]["neg_elbo_sd"] == pytest.approx(0.5 / 2 ** 0.5)
    assert values["vae"]["big"]["neg_iwae"] == 148.5
    assert values["vae"]["comparisons"][0].startswith("The Big beats the Small: 148.50")
    assert values["regression"]["base"]["var_theta0"] == 0.5
    assert values["regression"]["base"]["post_mean"] == [1.0, 2.0]
    assert values["regression"]["n_experiments"] == "one"
    assert values["mixture"]["conditionals"] == [
        {"x1": 1.0, "weights": [0.3, 0.7], "means": [0.1, 0.9]}]
    assert values["vae"]["n_models"] == "two"
    assert values["vae"]["diagonal_titles"] == "Small"
    assert values["vae"]["fullcov_title"] == "Big"
    assert (values["vae"]["big"]["hidden_text"], values["vae"]["big"]["layers"],
            values["vae"]["big"]["covariance"]) == ("30, 10", "two", "full")
    assert values["regression"]["base"]["mean_pred_var"] == pytest.approx(0.3)
    assert values["meta"]["commit"] == "abcdef0 (dirty)"
    assert values["mixture"]["components"] == "two"
    assert values["mixture"]["covariance_phrase"] == "identity covariances"
    assert ("| Big | 784-30-10-2 | full | 4 | 150.50 $\\pm$ 0.35 | 148.50 $\\pm$ 0.71 | 2.2 "
            "| cpu |") in values["tables"]["vae"]
    assert "(mean $\\pm$ sd, 2 seeds)" in values["tables"]["vae"]
    assert "IWAE bound of Big, seed 2" in values["tables"]["provenance_numbers"]
    assert values["tables"]["training"].count("| Big |") == 2
    assert "| $p(F=0 \\mid D=0)$ | 0.2125 |" in values["tables"]["fuel_gauge"]
    assert values["figures"]["f"]["note"].startswith("Made by `scripts/figures/f.py`")


ONE_SEED = {"mean": 150.0, "sd": None, "n": 1}


@pytest.mark.parametrize("a, b, expected", [
    ({"mean": 140.0, "sd": 0.5, "n": 5}, {"mean": 150.0, "sd": 1.0, "n": 5},
     "The A beats the B: 140.00 $\\pm$ 0.50 against 150.00 $\\pm$ 1.00 nats over 5 seeds, a "
     "difference of 10.00 nats, more than twice the larger seed standard deviation (2.00)."),
    ({"mean": 151.5, "sd": 0.2, "n": 3}, {"mean": 150.0, "sd": 0.5, "n": 3},
     "The A does worse than the B: 151.50 $\\pm$ 0.20 against 150.00 $\\pm$ 0.50 nats over 3 "
     "seeds, a difference of 1.50 nats, more than twice the larger seed standard deviation "
     "(1.00)."),
    ({"mean": 149.5, "sd": 0.4, "n": 5}, {"mean": 150.0, "sd": 0.3, "n": 5},
     "The A and the B do not differ beyond seed-to-seed variation: 149.50 $\\pm$ 0.40 against "
     "150.00 $\\pm$ 0.30 nats over 5 seeds, a difference of 0.50 nats, within twice the larger "
     "seed standard deviation (0.80)."),
    ({"mean": 140.0, "sd": None, "n": 1}, ONE_SEED,
     "With a single seed per model there is no seed-to-seed spread to judge it by, so whether "
     "the A beats the B stays open: 140.00 against 150.00 nats (difference -10.00)."),
])
def test_a_difference_is_called_only_beyond_the_seed_spread(a, b, expected):
    assert tables.comparison_sentence("A", "B", a, b) == expected


def test_seed_statistics():
    assert tables.seed_stats([1.0, 2.0, 3.0]) == {"mean": 2.0, "sd": 1.0, "n": 3}
    assert tables.seed_stats([4.0]) == {"mean": 4.0, "sd": None, "n": 1}


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
    assert tables.utc_time("2026-11-24T23:52:05+01:00") == "2026-11-24 22:52:05"


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
    figures = [path.stem for path in sorted((repo / "src/prml_pipeline/figures").glob("*.py"))
               if path.stem != "style" and not path.stem.startswith("_")]
    seeds = [config["vae"]["seed"]]
    conditions = config["mixture"]["condition_on"]
    cfg = {"dataset": "mnist", "dataset_name": "MNIST", "item_noun": "digits",
           "models": models, "experiments": experiments,
           "regression": {k: v for k, v in config["regression"].items() if k != "experiments"},
           "mixture": config["mixture"], "bayesnet": config["bayesnet"],
           "vae": {k: v for k, v in config["vae"].items() if k != "models"},
           "figure_models": {"diagonal": [m for m in models if not models[m]["full_covariance"]],
                             "fullcov": "fullcov"}}
    records = [*(record("figure", {"name": name}, f"scripts/figures/{name}.py", {})
                 for name in figures),
               record("fuel_gauge", {}, "scripts/fuel_gauge.py", {}),
               *(record("regression_experiment", {"experiment": e}, "s.py", {})
                 for e in experiments),
               *(record("mixture_conditional", {"value": f"{v:g}"}, "s.py", {})
                 for v in conditions),
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
        metrics={run: {"epochs": 3, "test_neg_elbo": 150.0 + i} for i, run in enumerate(runs)},
        runinfo={run: {"train_seconds": 1.5, "device": "cpu"} for run in runs},
        iwae={run: {"test_neg_iwae": 148.0 + i} for i, run in enumerate(runs)},
        code={"commit": "abcdef0123", "dirty": False})
    text = render((repo / "report/report.md").read_text(), values)
    assert "{{" not in text and "{%" not in text
    assert "21.25\\%" in text
    assert ("the Small VAE (10), with one hidden layer (10 units) and a diagonal covariance; "
            "the Medium VAE (100, 10), with two hidden layers (100, 10 units)") in text
    assert ("under the Small VAE (10), Medium VAE (100, 10) and Large VAE (300, 60, 10), "
            "coloured by true label") in text
    assert "Figure 8: The Full-covariance VAE (300, 60, 10): latent means" in text
    assert "This run has four; Table 2 lists" in " ".join(text.split())
