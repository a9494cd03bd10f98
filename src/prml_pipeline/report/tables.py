"""Number formats and Markdown tables of the report, sized for the PDF's text width."""

from __future__ import annotations

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
    """A cell roughly as printed: math without its markup (a command is one symbol), no code
    marks, a labelled span as its text and a cross-reference as the words it becomes."""
    def math(match: re.Match[str]) -> str:
        return re.sub(r"[{}^_ ]", "", re.sub(r"\\[A-Za-z]+", "x", match.group(1)))
    text = re.sub(r"\[([^\]]*)\]\{#[^}]*\}", r"\1", text)  # [F3]{#prov-f3} prints F3
    text = re.sub(r"@(fig|tab|eq|sec):[\w.:-]*\w", "Figure 10", text)  # a reference's words
    return re.sub(r"\$([^$]*)\$", math, text).replace("`", "")


def _words(text: str) -> list[str]:
    """The pieces a line should not break inside: words, paths, hashes, dates, numbers, and
    names joined by no-break spaces (a model's title)."""
    return [word for word in re.split(r"[ \t\n]+", _printed(text)) if word]


MINUS = "\u2212"


def number(value: float, digits: int = 2, sign: bool = False) -> str:
    """A number as the report prints it: fixed digits and a true minus sign (−0.96, not
    -0.96); with `sign`, a plus on positive values too (a difference)."""
    text = f"{float(value):{'+' if sign else ''}.{digits}f}"
    return text.replace("-", MINUS)


def short_title(title: str) -> str:
    """A model's title without its layers, which tables give in a column of their own:
    "Large VAE (300, 60, 10)" -> "Large VAE"."""
    return title.split(" (")[0]


def unbroken(text: str) -> str:
    """`text` with no-break spaces and hyphens: a name or value that must not wrap inside a
    table cell (browsers and LaTeX break lines after a hyphen)."""
    return text.replace(" ", "\u00a0").replace("-", "\u2011")


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


def input_label(path: str) -> str:
    """An input as the tables name it: its path under results/, so that the model or
    experiment it belongs to is part of the name (vae/small/latents.npz)."""
    return os.path.normpath(path).removeprefix("results" + os.sep)


def input_checksums(record: Mapping[str, Any]) -> str:
    items = sorted(data_inputs(record).items())
    if not items:
        return "none"
    return ", ".join(f"{input_label(path)} {short(digest)}" for path, digest in items)


def row_anchor(row: str) -> str:
    """The link target of a provenance row (F3 -> prov-f3)."""
    return f"prov-{row.lower()}"


def figure_note(row: str) -> str:
    """A caption's pointer to its row of the provenance table."""
    return f"Code and inputs: [row {row}](#{row_anchor(row)}) of @tab:provenance."


def fmt_vector(values: Sequence[float], digits: int = 2) -> str:
    """(−0.96, 1.09): each entry with at most `digits` decimals (trailing zeros dropped)."""
    def entry(v: float) -> str:
        text = f"{float(v):.{digits}f}".rstrip("0").rstrip(".") if digits else str(v)
        return text.replace("-", MINUS)
    return "(" + ", ".join(entry(v) for v in values) + ")"


def fuel_gauge_table(result: Mapping[str, float]) -> str:
    rows = [
        ("$p(D=0)$", result["p_d0"]),
        ("$p(F=0, D=0)$", result["p_f0_d0"]),
        ("$p(F=0 \\mid D=0)$", result["p_f0_given_d0"]),
        ("$p(B=0, D=0)$", result["p_b0_d0"]),
        ("$p(F=0, B=0, D=0)$", result["p_f0_b0_d0"]),
        ("$p(F=0 \\mid D=0, B=0)$", result["p_f0_given_d0_b0"]),
    ]
    return markdown_table(["Quantity", "Value"], [(name, number(value, 4)) for name, value in rows],
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
                     fmt_vector(data["post_mean"], 3), number(cov[0, 0], 4),
                     number(cov[1, 1], 4), number(cov[0, 1], 4),
                     number(values[name]["mean_pred_var"], 3)))
    table = markdown_table(
        ["Experiment", "$\\mu_x$", "diag $\\Sigma_x$", "$\\sigma_y^2$", "$\\mathbf{m}_N$",
         "Var $\\theta_0$", "Var $\\theta_1$", "Cov", "mean Var $\\hat y$"],
        rows, "llllrrrrr")
    return values, table


def conditionals_table(conditionals: Sequence[Mapping[str, Any]]) -> str:
    rows = [(f"{float(c['value']):g}".replace("-", MINUS), fmt_vector(c["weights"]),
             fmt_vector(np.asarray(c["means"]).ravel())) for c in conditionals]
    return markdown_table(["$x_1$", "new mixing coefficients $\\pi_k^{cond}$",
                           "component means of $x_2$"], rows, "rll")


def seed_stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (None for one seed) and count of per-seed values."""
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "n": len(array),
            "sd": float(array.std(ddof=1)) if len(array) > 1 else None}


def fmt_stats(stats: Mapping[str, Any], digits: int = 2) -> str:
    """mean ± standard error over test images (one unbreakable piece); with several seeds
    also their spread."""
    text = unbroken(f"{number(stats['mean'], digits)} ± {number(stats['se'], digits)}")
    return text if stats.get("sd") is None else f"{text} (sd {number(stats['sd'], digits)})"


def covariance(model: Mapping[str, Any]) -> str:
    """The posterior covariance of a model of the config: "full" or "diagonal"."""
    return "full" if model["full_covariance"] else "diagonal"


def vae_table(models: Mapping[str, Mapping[str, Any]],
              summary: Mapping[str, Mapping[str, Any]], iwae_samples: int) -> str:
    """Per model: architecture, epochs, test -ELBO and -IWAE (± the standard error over test
    images; with several seeds, the mean over seeds and their sd), mean training time and
    the device."""
    rows = []
    for name, model in models.items():
        row = summary[name]
        rows.append((unbroken(short_title(model["title"])),
                     unbroken("784-" + "-".join(map(str, model["hidden"])) + "-2"),
                     row["epochs"], fmt_stats(row["neg_elbo"]), fmt_stats(row["neg_iwae"]),
                     f"{row['train_seconds']:.1f}", row["device"]))
    return markdown_table(["Model", "Encoder", "Epochs", "Test −ELBO",
                           f"Test −log p (IWAE, K\u00a0=\u00a0{iwae_samples})",
                           "Training time (s)", "Device"],
                          rows, "llrrrrl")


def provenance_table(rows: Sequence[tuple[str, str, Mapping[str, Any]]]) -> str:
    """One row per item (row label such as F3, what it is, its job's record): the code that
    made it and the data it read, each with the first 8 hex digits of its SHA-256 as the
    record holds it. The commit is the same for all and stated once, beside the table."""
    def script(record: Mapping[str, Any]) -> str:
        return f"`{record['script']['path'].removeprefix('src/prml_pipeline/')}`"

    body = [(f"[{row}]{{#{row_anchor(row)}}}", label, script(record), input_checksums(record))
            for row, label, record in rows]
    return markdown_table(["Row", "Item", "Script", "Inputs (in `results/`, SHA-256)"], body)


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
            rows.append((unbroken(model["title"]), seed, machine["host"],
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
    """An ISO 8601 time as the tables print it, in UTC to the second, never wrapped:
    2026-01-01 00:00:00 (with no-break hyphens and space)."""
    return unbroken(datetime.fromisoformat(timestamp).astimezone(UTC)
                    .strftime("%Y-%m-%d %H:%M:%S"))


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


