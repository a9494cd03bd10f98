"""Compare two results folders: settings, report numbers, artifact bytes and figures.

    python -m prml_pipeline.compare RESULTS_A RESULTS_B [--out comparison.html]
    make compare A=RESULTS_A B=RESULTS_B

Prints a Markdown summary and writes a self-contained HTML page: the settings that differ
(from the provenance records' params), every number of the report that changed (old, new,
difference, from report/values.json), the artifacts whose bytes differ (SHA-256 from the
records), and each changed figure beside its counterpart with a pixel-difference image.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prml_pipeline.records import load_records


@dataclass
class Comparison:
    settings: list[tuple[str, Any, Any]] = field(default_factory=list)
    numbers: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (path, how it differs)
    figures: list[str] = field(default_factory=list)


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested dicts as (dotted key, value); lists stay whole."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _jobs(results: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["rule"], "/".join(map(str, r.get("wildcards", {}).values()))): r
            for r in load_records(results / "provenance")}


def _relative(path: str) -> str:
    return path.removeprefix("results/")


def compare(a: Path, b: Path) -> Comparison:
    result = Comparison()
    jobs_a, jobs_b = _jobs(a), _jobs(b)
    settings: dict[str, tuple[Any, Any]] = {}
    for key in sorted(jobs_a.keys() & jobs_b.keys()):
        old = dict(flatten(jobs_a[key].get("params", {}).get("cfg", {})))
        new = dict(flatten(jobs_b[key].get("params", {}).get("cfg", {})))
        where = f"{key[1]}: " if key[1] else ""
        for name in sorted(old.keys() | new.keys()):
            if old.get(name) != new.get(name):
                # Model settings differ per job; name them with the job's wildcards.
                label = f"{where}{name}" if key[0] == "train_vae" else name
                settings.setdefault(label, (old.get(name), new.get(name)))
    result.settings = [(name, *pair) for name, pair in sorted(settings.items())]

    values_a, values_b = (_numbers(folder) for folder in (a, b))
    for name in sorted(values_a.keys() | values_b.keys()):
        old, new = values_a.get(name), values_b.get(name)
        if old != new:
            result.numbers.append((name, old, new))

    outputs_a = {_relative(p): d for r in jobs_a.values() for p, d in r["outputs"].items()}
    outputs_b = {_relative(p): d for r in jobs_b.values() for p, d in r["outputs"].items()}
    for path in sorted(outputs_a.keys() | outputs_b.keys()):
        if path.startswith("provenance/"):
            continue  # records always differ in their times
        if path not in outputs_b:
            result.artifacts.append((path, f"only in {a}"))
        elif path not in outputs_a:
            result.artifacts.append((path, f"only in {b}"))
        elif outputs_a[path] != outputs_b[path]:
            result.artifacts.append((path, f"{outputs_a[path][:8]} -> {outputs_b[path][:8]}"))
            if path.endswith(".png") and (a / path).is_file() and (b / path).is_file():
                result.figures.append(path)
    return result


def _numbers(results: Path) -> dict[str, float]:
    path = results / "report" / "values.json"
    if not path.is_file():
        return {}
    values = json.loads(path.read_text())
    values.pop("tables", None)
    return {key: float(value) for key, value in flatten(values)
            if isinstance(value, int | float) and not isinstance(value, bool)}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "—" if value is None else json.dumps(value)


def markdown(result: Comparison, a: Path, b: Path) -> str:
    lines = [f"# {a} → {b}", "", f"## Settings that differ ({len(result.settings)})", ""]
    lines += ["| setting | A | B |", "| --- | --- | --- |"]
    lines += [f"| {name} | {_fmt(old)} | {_fmt(new)} |" for name, old, new in result.settings]
    lines += ["", f"## Report numbers that changed ({len(result.numbers)})", "",
              "| number | A | B | B − A |", "| --- | ---: | ---: | ---: |"]
    for name, old, new in result.numbers:
        diff = _fmt(new - old) if old is not None and new is not None else "—"
        lines.append(f"| {name} | {_fmt(old)} | {_fmt(new)} | {diff} |")
    lines += ["", f"## Artifacts whose bytes changed ({len(result.artifacts)})", ""]
    lines += [f"- `{path}`: {how}" for path, how in result.artifacts]
    lines += ["", f"## Figures that changed ({len(result.figures)})", ""]
    lines += [f"- `{path}`" for path in result.figures]
    return "\n".join(lines) + "\n"


def figure_panel(path_a: Path, path_b: Path) -> bytes:
    """A | B | |A - B| as one PNG (the difference scaled to its own maximum)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = [plt.imread(path)[..., :3] for path in (path_a, path_b)]
    height = max(image.shape[0] for image in images)
    width = max(image.shape[1] for image in images)
    padded = [np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0)),
                     constant_values=1.0) for image in images]
    difference = np.abs(padded[0] - padded[1]).max(axis=2)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5 * height / width + 0.6))
    for ax, image, title in zip(axes, [*padded, difference], ["A", "B", "|A − B|"], strict=True):
        ax.imshow(image, cmap="magma" if image.ndim == 2 else None)
        ax.set_title(title)
        ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def html_page(result: Comparison, a: Path, b: Path) -> str:
    def table(header: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    parts = [f"<h1>{html.escape(str(a))} → {html.escape(str(b))}</h1>",
             f"<h2>Settings that differ ({len(result.settings)})</h2>",
             table(["setting", "A", "B"], [[n, _fmt(o), _fmt(v)] for n, o, v in result.settings]),
             f"<h2>Report numbers that changed ({len(result.numbers)})</h2>",
             table(["number", "A", "B", "B − A"], [
                 [n, _fmt(o), _fmt(v), _fmt(v - o) if None not in (o, v) else "—"]
                 for n, o, v in result.numbers]),
             f"<h2>Artifacts whose bytes changed ({len(result.artifacts)})</h2>",
             table(["artifact", "SHA-256 A → B"], [list(row) for row in result.artifacts]),
             f"<h2>Figures that changed ({len(result.figures)})</h2>"]
    for path in result.figures:
        png = base64.b64encode(figure_panel(a / path, b / path)).decode()
        parts.append(f"<h3>{html.escape(path)}</h3><img alt='{html.escape(path)}' "
                     f"src='data:image/png;base64,{png}'>")
    style = ("body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em}"
             "table{border-collapse:collapse;display:block;overflow-x:auto}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Comparison</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="first results folder")
    parser.add_argument("b", type=Path, help="second results folder")
    parser.add_argument("--out", type=Path, default=Path("comparison.html"),
                        help="HTML page to write (default: comparison.html)")
    args = parser.parse_args(argv)
    for folder in (args.a, args.b):
        if not (folder / "provenance").is_dir():
            print(f"compare: {folder}/provenance not found: give two results folders "
                  "(each made by the workflow)", file=sys.stderr)
            return 2
    result = compare(args.a, args.b)
    print(markdown(result, args.a, args.b), end="")
    args.out.write_text(html_page(result, args.a, args.b))
    print(f"\nHTML with the figures side by side: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
