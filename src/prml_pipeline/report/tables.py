"""Number formats and Markdown tables of the report, sized for the PDF's text width."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

# The PDF's table geometry (report/metadata.yaml: letter paper, 2.5 cm margins, 11 pt type,
# tables in \footnotesize, i.e. 9 pt): the text width and a character's width in points (a
# typewriter character is 0.525 em, 4.7 pt), and the padding LaTeX puts around each column.
# A little wide per character, to stay on the safe side.
_TEXT_WIDTH_PT = 470.0
_CHAR_PT = 4.8
_COLUMN_PADDING_PT = 12.0


def _printed(text: str) -> str:
    """A cell roughly as printed: math without its markup (a command is one symbol), and
    no code marks."""
    def math(match: re.Match[str]) -> str:
        return re.sub(r"[{}^_ ]", "", re.sub(r"\\[A-Za-z]+", "x", match.group(1)))
    return re.sub(r"\$([^$]*)\$", math, text).replace("`", "")


def _words(text: str) -> list[str]:
    """The pieces a line should not break inside: words, paths, hashes, dates, numbers."""
    return _printed(text).split()


def column_widths(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """Relative column widths (in characters) from the cells, so that no column is narrower
    than its longest unbreakable word (a path, a hash, a number): no text runs into the next
    column. What the page has beyond that goes to the columns with the most text."""
    columns = list(zip(header, *rows, strict=True))
    least = [max(len(word) for cell in column for word in _words(str(cell)) or [""]) or 1
             for column in columns]
    most = [max(len(_printed(str(cell))) for cell in column) or 1 for column in columns]
    line = int((_TEXT_WIDTH_PT - _COLUMN_PADDING_PT * len(columns)) / _CHAR_PT)
    if sum(most) <= line:
        return most
    spare = line - sum(least)
    extra = [m - low for m, low in zip(most, least, strict=True)]
    if spare <= 0 or not sum(extra):
        return least  # wider than the page at any layout: keep every column legible
    return [low + int(spare * e / sum(extra)) for low, e in zip(least, extra, strict=True)]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]],
                   align: str | None = None) -> str:
    """A pandoc pipe table; `align` has one of l/r/c per column.

    The dashes of the separator line are `column_widths` of the cells. When a line of the
    table is longer than 72 characters, pandoc sets the table to the text width, wraps the
    cells and takes the relative column widths from those dashes; a narrower table keeps its
    natural widths.
    """
    align = align or "l" * len(header)
    widths = column_widths(header, rows)
    def separator(a: str, width: int) -> str:
        return (":" if a in "lc" else "-") + "-" * width + (":" if a in "rc" else "-")
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(separator(a, w) for a, w in zip(align, widths, strict=True)) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def short(digest: str | None, length: int = 8) -> str:
    return digest[:length] if digest else "n/a"


def commit_label(record: Mapping[str, Any]) -> str:
    code = record.get("code", {})
    label = short(code.get("commit"), 7)
    return label + (" (dirty)" if code.get("dirty") else "")


def data_inputs(record: Mapping[str, Any]) -> dict[str, str]:
    """The record's inputs that are data, not code."""
    return {path: digest for path, digest in record.get("inputs", {}).items()
            if not path.endswith(".py")}


def data_hash(record: Mapping[str, Any]) -> str:
    """One short hash of all data a job read (order-independent)."""
    joined = "".join(f"{path}:{digest}\n" for path, digest in sorted(data_inputs(record).items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:8]


def input_label(path: str) -> str:
    """An input as the tables name it: its path under results/, so that the model or
    experiment it belongs to is part of the name (vae/small/latents.npz)."""
    return os.path.normpath(path).removeprefix("results" + os.sep)


def input_checksums(record: Mapping[str, Any]) -> str:
    items = sorted(data_inputs(record).items())
    if not items:
        return "none"
    return ", ".join(f"{input_label(path)} {short(digest)}" for path, digest in items)


def figure_note(record: Mapping[str, Any]) -> str:
    return (f"Made by `{record['script']['path']}` (rule `{record['rule']}`, commit "
            f"{commit_label(record)}) from data {data_hash(record)}.")


def fmt_vector(values: Sequence[float], digits: int = 2) -> str:
    return "(" + ", ".join(f"{float(v):.{digits}f}".rstrip("0").rstrip(".") if digits else
                           str(v) for v in values) + ")"


def fuel_gauge_table(result: Mapping[str, float]) -> str:
    rows = [
        ("$p(D=0)$", result["p_d0"]),
        ("$p(F=0, D=0)$", result["p_f0_d0"]),
        ("$p(F=0 \\mid D=0)$", result["p_f0_given_d0"]),
        ("$p(B=0, D=0)$", result["p_b0_d0"]),
        ("$p(F=0, B=0, D=0)$", result["p_f0_b0_d0"]),
        ("$p(F=0 \\mid D=0, B=0)$", result["p_f0_given_d0_b0"]),
    ]
    return markdown_table(["Quantity", "Value"], [(name, f"{value:.4f}") for name, value in rows],
                          "lr")


def regression_values(experiments: Mapping[str, Mapping[str, Any]],
                      arrays: Mapping[str, Mapping[str, np.ndarray]]) -> tuple[dict, str]:
    values: dict[str, Any] = {}
    rows = []
    for name, settings in experiments.items():
        data = arrays[name]
        cov = data["post_cov"]
        values[name] = {
            "post_mean": [float(m) for m in data["post_mean"]],
            "var_theta0": float(cov[0, 0]),
            "var_theta1": float(cov[1, 1]),
            "cov_theta01": float(cov[0, 1]),
            "mean_pred_var": float(np.mean(data["predictive_variance"])),
            "target_var": settings["target_var"],
        }
        rows.append((settings["title"], fmt_vector(settings["x_mean"]),
                     fmt_vector(settings["x_var"]), f"{settings['target_var']:g}",
                     fmt_vector(data["post_mean"], 3), f"{cov[0, 0]:.4f}", f"{cov[1, 1]:.4f}",
                     f"{cov[0, 1]:.4f}", f"{values[name]['mean_pred_var']:.3f}"))
    table = markdown_table(
        ["Experiment", "$\\mu_x$", "diag $\\Sigma_x$", "$\\sigma_y^2$", "$\\mathbf{m}_N$",
         "Var $\\theta_0$", "Var $\\theta_1$", "Cov", "mean Var $\\hat y$"],
        rows, "llllrrrrr")
    return values, table


def conditionals_table(conditionals: Sequence[Mapping[str, Any]]) -> str:
    rows = [(f"{float(c['value']):g}", fmt_vector(c["weights"]),
             fmt_vector(np.asarray(c["means"]).ravel())) for c in conditionals]
    return markdown_table(["$x_1$", "new mixing coefficients $\\pi_k^{cond}$",
                           "component means of $x_2$"], rows, "rll")


def seed_stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (None for one seed) and count of per-seed values."""
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "n": len(array),
            "sd": float(array.std(ddof=1)) if len(array) > 1 else None}


def fmt_stats(stats: Mapping[str, Any], digits: int = 2) -> str:
    if stats["sd"] is None:
        return f"{stats['mean']:.{digits}f}"
    return f"{stats['mean']:.{digits}f} $\\pm$ {stats['sd']:.{digits}f}"


def covariance(model: Mapping[str, Any]) -> str:
    """The posterior covariance of a model of the config: "full" or "diagonal"."""
    return "full" if model["full_covariance"] else "diagonal"


def vae_table(models: Mapping[str, Mapping[str, Any]],
              summary: Mapping[str, Mapping[str, Any]], iwae_samples: int) -> str:
    """Per model: architecture, epochs, test -ELBO and -IWAE (mean ± sd over seeds when there
    are several), mean training time and the device."""
    n = next(iter(summary.values()))["neg_elbo"]["n"]
    over = f" (mean $\\pm$ sd, {n} seeds)" if n > 1 else ""
    rows = []
    for name, model in models.items():
        row = summary[name]
        rows.append((model["title"], "784-" + "-".join(map(str, model["hidden"])) + "-2",
                     covariance(model), row["epochs"],
                     fmt_stats(row["neg_elbo"]), fmt_stats(row["neg_iwae"]),
                     f"{row['train_seconds']:.1f}", row["device"]))
    return markdown_table(["Model", "Encoder", "Covariance", "Epochs",
                           f"Test $-$ELBO{over}", f"Test $-\\log p$, IWAE $K={iwae_samples}$",
                           "Training time (s)", "Device"],
                          rows, "lllrrrrl")


def comparison_sentence(better: str, worse: str, a: Mapping[str, Any],
                        b: Mapping[str, Any]) -> str:
    """Whether model A (stats `a`) beats model B (stats `b`) on a lower-is-better measure.

    A difference of the means counts only when it exceeds twice the larger of the two seed
    standard deviations; with one seed there is no spread, and the sentence says so.
    """
    difference = a["mean"] - b["mean"]
    numbers = f"{fmt_stats(a)} against {fmt_stats(b)} nats"
    if a["sd"] is None or b["sd"] is None:
        return (f"With a single seed per model there is no seed-to-seed spread to judge it by, "
                f"so whether the {better} beats the {worse} stays open: {numbers} "
                f"(difference {difference:+.2f}).")
    threshold = 2 * max(a["sd"], b["sd"])
    seeds = f"over {a['n']} seeds"
    if abs(difference) > threshold:
        verdict = "beats" if difference < 0 else "does worse than"
        return (f"The {better} {verdict} the {worse}: {numbers} {seeds}, a difference of "
                f"{abs(difference):.2f} nats, more than twice the larger seed standard "
                f"deviation ({threshold:.2f}).")
    return (f"The {better} and the {worse} do not differ beyond seed-to-seed variation: "
            f"{numbers} {seeds}, a difference of {abs(difference):.2f} nats, within twice the "
            f"larger seed standard deviation ({threshold:.2f}).")


def provenance_table(named_records: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Per item: the rule, its script (under scripts/) and commit, and the data it read.

    Rule, script and commit share one cell, one per line of text, so that no long path has to
    fit a narrow column of its own.
    """
    def made_by(record: Mapping[str, Any]) -> str:
        script = record["script"]["path"].removeprefix("scripts/")
        return f"rule `{record['rule']}`, script `{script}`, commit {commit_label(record)}"

    rows = [(label, made_by(record), input_checksums(record)) for label, record in named_records]
    return markdown_table(["Item", "Made by (script in `scripts/`)",
                           "Input data (path in `results/`, SHA-256 short)"],
                          rows)


def training_table(models: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
                   records: Mapping[str, Mapping[str, Any]],
                   runinfo: Mapping[tuple[str, int], Mapping]) -> str:
    """Where each training run (model, seed) ran and what it used; `records` is keyed
    "model/seed"."""
    rows = []
    for name, model in models.items():
        for seed in seeds:
            record = records[f"{name}/{seed}"]
            machine = record["machine"]
            rows.append((model["title"], seed, machine["host"],
                         machine.get("slurm_job_id") or "none", runinfo[(name, seed)]["device"],
                         machine["threads"], utc_time(record["time"]["start"]),
                         *hardware_cells(runinfo[(name, seed)].get("hardware"))))
    return markdown_table(["Model", "Seed", "Host", "SLURM job", "Device", "Threads",
                           "Started (UTC)", "Wall, CPU (s)", "Peak RSS (MiB)", "GPU use"], rows)


def hardware_cells(hardware: Mapping[str, Any] | None) -> tuple[str, str, str]:
    """A training job's wall and CPU seconds, its peak resident memory and its GPU use (torch's
    peak allocated/reserved MiB; NVML's mean/peak utilisation and energy, or why NVML is
    missing), from runinfo.json's `hardware`; "n/a" for a run recorded before it existed."""
    if not hardware:
        return "n/a", "n/a", "n/a"
    times = f"{hardware['wall_seconds']:.1f}, {hardware['cpu_seconds']:.1f}"
    cuda, nvml = hardware.get("cuda"), hardware.get("nvml") or {}
    if not cuda:
        gpu = "none (CPU)"
    else:
        gpu = f"{cuda['peak_allocated_mib']:.0f}/{cuda['peak_reserved_mib']:.0f} MiB"
        if nvml.get("available"):
            if "utilization_mean_percent" in nvml:
                gpu += (f", {nvml['utilization_mean_percent']:.0f}/"
                        f"{nvml['utilization_peak_percent']:.0f} %")
            if "energy_j" in nvml:
                gpu += f", {nvml['energy_j'] / 1000:.2f} kJ"
        else:
            gpu += f", no NVML ({nvml.get('reason', 'not recorded')})"
    return times, f"{hardware['peak_rss_mib']:.0f}", gpu


def utc_time(timestamp: str) -> str:
    """An ISO 8601 time as the tables print it, in UTC to the second: 2026-01-01 00:00:00."""
    return datetime.fromisoformat(timestamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def number_word(count: int) -> str:
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    return words[count - 1] if 1 <= count <= len(words) else str(count)


def word_list(words: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def cpt_values(bayesnet: Mapping[str, Any]) -> dict[str, float]:
    """The conditional probability tables as the text quotes them."""
    values = {"p_b0": bayesnet["p_b"][0], "p_f0": bayesnet["p_f"][0],
              "p_d1_given_g1": bayesnet["p_d_given_g"][1][1],
              "p_d0_given_g0": bayesnet["p_d_given_g"][0][0]}
    for b in (0, 1):
        for f in (0, 1):
            values[f"p_g1_given_b{b}_f{f}"] = bayesnet["p_g_given_bf"][b][f][1]
    return values


