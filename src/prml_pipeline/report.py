"""Numbers and tables of the report, read from artifacts, and the template renderer.

report/report.md holds the text with `{{ key }}` or `{{ key | fmt }}` placeholders; the values
come from results/report/values.json, which scripts/report_values.py builds with these
functions from the artifacts and their provenance records. No result is typed into the
report source.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": lambda value: f"{100 * float(value):.2f}\\%",
    "f2": lambda value: f"{float(value):.2f}",
    "f3": lambda value: f"{float(value):.3f}",
    "f4": lambda value: f"{float(value):.4f}",
    "int": lambda value: f"{int(value)}",
    "raw": str,
}
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*(?:\|\s*([a-z0-9]+)\s*)?\}\}")


class TemplateError(KeyError):
    """A placeholder names a value the pipeline does not produce, or an unknown format."""

    def __str__(self) -> str:
        return str(self.args[0])


def lookup(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise TemplateError(f"report placeholder '{{{{ {dotted} }}}}': no value '{part}'")
        node = node[part]
    return node


def render(template: str, values: Mapping[str, Any]) -> str:
    """Replace every placeholder; an unknown key or format is an error, never left blank."""
    def substitute(match: re.Match[str]) -> str:
        key, fmt = match.group(1), match.group(2) or "raw"
        if fmt not in FORMATS:
            raise TemplateError(f"report placeholder '{match.group(0)}': unknown format "
                                f"'{fmt}' (use one of {sorted(FORMATS)})")
        return FORMATS[fmt](lookup(values, key))
    return PLACEHOLDER.sub(substitute, template)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]],
                   align: str | None = None, widths: Sequence[int] | None = None) -> str:
    """A pandoc pipe table; `align` has one of l/r/c per column.

    `widths` are relative column widths: pandoc reads them from the number of dashes in the
    separator line when rows are long, and wraps cells to fit the page.
    """
    align = align or "l" * len(header)
    widths = widths or [3] * len(header)
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


def input_checksums(record: Mapping[str, Any]) -> str:
    items = sorted(data_inputs(record).items())
    if not items:
        return "none"
    return ", ".join(f"{os.path.basename(path)} {short(digest)}" for path, digest in items)


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
        rows, "llllrrrrr", widths=[17, 9, 9, 6, 15, 9, 9, 8, 10])
    return values, table


def conditionals_table(conditionals: Sequence[Mapping[str, Any]]) -> str:
    rows = [(f"{float(c['value']):g}", fmt_vector(c["weights"]),
             fmt_vector(np.asarray(c["means"]).ravel())) for c in conditionals]
    return markdown_table(["$x_1$", "new mixing coefficients $\\pi_k^{cond}$",
                           "component means of $x_2$"], rows, "rll", widths=[10, 45, 45])


def vae_table(models: Mapping[str, Mapping[str, Any]], metrics: Mapping[str, Mapping],
              runinfo: Mapping[str, Mapping]) -> str:
    rows = []
    for name, model in models.items():
        rows.append((model["title"], "784-" + "-".join(map(str, model["hidden"])) + "-2",
                     "full" if model["full_covariance"] else "diagonal",
                     metrics[name]["epochs"], f"{metrics[name]['test_neg_elbo']:.2f}",
                     f"{runinfo[name]['train_seconds']:.1f}", runinfo[name]["device"]))
    return markdown_table(["Model", "Encoder", "Covariance", "Epochs",
                           "Test $-$ELBO (nats/image)", "Training time (s)", "Device"],
                          rows, "lllrrrl", widths=[24, 16, 9, 7, 13, 11, 20])


def provenance_table(named_records: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    def script(record: Mapping[str, Any]) -> str:
        return f"`{record['script']['path'].removeprefix('scripts/')}`"

    rows = [(label, f"`{record['rule']}`", script(record), commit_label(record),
             input_checksums(record)) for label, record in named_records]
    return markdown_table(["Item", "Rule", "Script (in `scripts/`)", "Commit",
                           "Input data (SHA-256, short)"], rows, widths=[16, 22, 31, 9, 22])


def training_table(models: Mapping[str, Mapping[str, Any]],
                   records: Mapping[str, Mapping[str, Any]],
                   runinfo: Mapping[str, Mapping]) -> str:
    rows = []
    for name, model in models.items():
        machine = records[name]["machine"]
        rows.append((model["title"], machine["host"], machine.get("slurm_job_id") or "none",
                     runinfo[name]["device"], machine["threads"],
                     records[name]["time"]["start"]))
    return markdown_table(["Model", "Host", "SLURM job", "Device", "Threads", "Started (UTC)"],
                          rows, widths=[26, 12, 10, 22, 8, 22])
