"""Compare two results folders: settings, code, report values, artifact bytes and figures.

    python -m prml_pipeline.compare RESULTS_A RESULTS_B [--out comparison.html]
    make compare A=RESULTS_A B=RESULTS_B

Prints a Markdown summary and writes a self-contained HTML page: the settings that differ
(each job's config subset from the provenance records, labelled by rule, job and dotted key),
the commit, scripts and software versions that differ, every number of the report that changed
(old, new, difference, from report/values.json, lists included) and its other values that
changed, what each training job used of the machine that differs (time, memory, GPU: its
record's hardware figures, see docs/cluster.md), the artifacts whose bytes differ (every file
hashed here, on both sides), the files whose records do not vouch for their bytes, and each
changed figure beside its counterpart with a pixel-difference image.
"""

from __future__ import annotations

import base64
import html
import io
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prml_pipeline.runs.hardware import usage_items
from prml_pipeline.runs.records import load_records, sha256_file

# More jobs than this sharing one change are counted, not named.
MAX_NAMED_JOBS = 3


@dataclass
class Change:
    """One setting or code item that differs, in the jobs named by `where`."""

    where: str  # "train_vae[medium/42]", "train_vae[all 4 jobs]", "fuel_gauge"
    key: str
    old: Any
    new: Any


@dataclass
class Comparison:
    settings: list[Change] = field(default_factory=list)
    code: list[Change] = field(default_factory=list)
    numbers: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    others: list[tuple[str, Any, Any]] = field(default_factory=list)  # non-numeric values
    # (job and figure, A, B) of the hardware figures of training jobs that differ
    hardware: list[tuple[str, Any, Any]] = field(default_factory=list)
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (path, how it differs)
    # (folder, path, what is wrong): files whose bytes, hashed here, their records do not vouch for
    unverified: list[tuple[str, str, str]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


def flatten(value: Any, prefix: str = "", *, lists: bool = False) -> Iterator[tuple[str, Any]]:
    """Leaves of nested dicts as (dotted key, value); with `lists`, list items too (`key[0]`).

    An empty dict or list is a leaf of its own, so that a change to or from one shows.
    """
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key), lists=lists)
    elif lists and isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{index}]", lists=lists)
    else:
        yield prefix, value


def _jobs(results: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Records by (rule, wildcard values joined by "/"); the second is "" without wildcards."""
    return {(r["rule"], "/".join(map(str, r.get("wildcards", {}).values()))): r
            for r in load_records(results / "provenance")}


def _job_label(rule: str, job: str) -> str:
    return f"{rule}[{job}]" if job else rule


def _jobs_label(jobs: list[str], total: int) -> str:
    """The jobs a change occurred in: named when few, else counted (of `total`)."""
    if len(jobs) <= MAX_NAMED_JOBS:
        return ", ".join(jobs)
    return f"all {total} jobs" if len(jobs) == total else f"{len(jobs)} of {total} jobs"


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            yield key, old.get(key), new.get(key)


def _collapse(found: Iterable[tuple[str, str, Any, Any]]) -> list[tuple[str, Any, Any, list[str]]]:
    """(job, key, old, new) grouped by (key, old, new): each as (key, old, new, [jobs])."""
    groups: dict[str, tuple[str, Any, Any, list[str]]] = {}
    for job, key, old, new in found:
        groups.setdefault(json.dumps([key, old, new], sort_keys=True, default=str),
                          (key, old, new, []))[3].append(job)
    return list(groups.values())


def _settings(jobs_a: Mapping, jobs_b: Mapping, common: list[tuple[str, str]]) -> list[Change]:
    """Differing config settings: each (rule, key, old, new) once, with the jobs it is in."""
    changes = []
    for rule in sorted({rule for rule, _ in common}):
        jobs = [job for r, job in common if r == rule]
        found = [(job, *difference) for job in jobs for difference in _differences(
            *(dict(flatten(side[rule, job].get("params", {}).get("cfg", {})))
              for side in (jobs_a, jobs_b)))]
        changes += sorted((Change(_job_label(rule, _jobs_label(where, len(jobs))), key, old, new)
                           for key, old, new, where in _collapse(found)),
                          key=lambda c: (c.key, c.where))
    return changes


def _code(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a record says of the code and software that made it."""
    code = record.get("code", {})
    script = record.get("script", {})
    items = {"commit": code.get("commit"), "dirty": code.get("dirty"),
             f"script {script.get('path')}": script.get("git_blob")}
    return {**items, **{f"software.{name}": version
                        for name, version in record.get("software", {}).items()}}


def _code_changes(jobs_a: Mapping, jobs_b: Mapping, common: list[tuple[str, str]]) -> list[Change]:
    """Commit, dirty flag, script blobs and package versions that differ, over all jobs."""
    found = [(_job_label(*job), *difference) for job in common
             for difference in _differences(_code(jobs_a[job]), _code(jobs_b[job]))]
    return sorted((Change(_jobs_label(where, len(common)), key, old, new)
                   for key, old, new, where in _collapse(found)),
                  key=lambda c: (c.key, c.where))


def _hardware(record: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """A job's hardware figures by key, as (name with unit, value), and its mean s/epoch."""
    extra = record.get("extra", {})
    figures = {key: (f"{name} ({unit})" if unit else name, value)
               for key, name, value, unit in usage_items(extra.get("hardware"))}
    epochs = extra.get("epoch_seconds")
    if epochs:
        figures["epoch_seconds"] = ("seconds per epoch, mean (s)", sum(epochs) / len(epochs))
    return figures


def _hardware_changes(jobs_a: Mapping, jobs_b: Mapping,
                      common: list[tuple[str, str]]) -> list[tuple[str, Any, Any]]:
    """Per job in both folders, each hardware figure whose value differs (training jobs)."""
    rows = []
    for job in common:
        a, b = _hardware(jobs_a[job]), _hardware(jobs_b[job])
        for key in [*a, *(key for key in b if key not in a)]:
            name = (a.get(key) or b[key])[0]
            old, new = a.get(key, (name, None))[1], b.get(key, (name, None))[1]
            if old != new:
                rows.append((f"{_job_label(*job)} {name}", old, new))
    return rows


def _relative(path: str) -> str:
    return path.removeprefix("results/")


def compare(a: Path, b: Path) -> Comparison:
    result = Comparison()
    jobs_a, jobs_b = _jobs(a), _jobs(b)
    common = sorted(jobs_a.keys() & jobs_b.keys())
    result.settings = _settings(jobs_a, jobs_b, common)
    result.code = _code_changes(jobs_a, jobs_b, common)
    result.hardware = _hardware_changes(jobs_a, jobs_b, common)

    values_a, values_b = (_values(folder) for folder in (a, b))
    for name, old, new in _differences(values_a, values_b):
        if _is_number(old) or _is_number(new):
            result.numbers.append((name, _number(old), _number(new)))
        else:
            result.others.append((name, old, new))

    # Bytes as they are now, hashed here on both sides: records say what the bytes were.
    files_a, files_b = _hashed(a), _hashed(b)
    for folder, jobs, files in ((a, jobs_a, files_a), (b, jobs_b, files_b)):
        result.unverified += [(str(folder), path, why) for path, why in _unvouched(jobs, files)]
    for path in sorted(files_a.keys() | files_b.keys()):
        if path not in files_b:
            result.artifacts.append((path, f"only in {a}"))
        elif path not in files_a:
            result.artifacts.append((path, f"only in {b}"))
        elif files_a[path] != files_b[path]:
            result.artifacts.append((path, f"{files_a[path][:8]} -> {files_b[path][:8]}"))
            if path.endswith(".png"):
                result.figures.append(path)
    return result


class CompareError(Exception):
    """A folder that cannot be compared; the message names the file and the fix."""


# Under a results folder, what is no artifact: records (they differ in their times), logs,
# timings, scratch, and the crate (made from the records).
NOT_ARTIFACTS = ("provenance", "logs", "benchmarks", "checkpoints", "ro-crate-metadata.json")


def _hashed(results: Path) -> dict[str, str]:
    """SHA-256 of every artifact file under `results` (links followed), by relative path."""
    hashed = {}
    for path in sorted(results.rglob("*")):
        relative = path.relative_to(results)
        if (relative.parts[0] in NOT_ARTIFACTS or path.name.startswith(".")
                or not path.is_file()):
            continue
        try:
            hashed[relative.as_posix()] = sha256_file(path)
        except OSError as error:
            hashed[relative.as_posix()] = f"unreadable ({error.strerror or error})"
    return hashed


def _unvouched(jobs: Mapping, files: Mapping[str, str]) -> list[tuple[str, str]]:
    """Each file whose bytes no record of its folder vouches for, and why."""
    recorded = {_relative(path): (digest, record["rule"]) for record in jobs.values()
                for path, digest in record["outputs"].items()}
    found = []
    for path in sorted(recorded.keys() | files.keys()):
        digest, rule = recorded.get(path, (None, None))
        if path not in files:
            found.append((path, f"missing (rule {rule} wrote it)"))
        elif digest is None:
            found.append((path, "no record vouches for it"))
        elif files[path] != digest:
            found.append((path, f"does not match its record: changed after rule {rule} "
                                "wrote it"))
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _values(results: Path) -> dict[str, Any]:
    """The leaves of report/values.json by key, lists indexed, without the formatted tables."""
    path = results / "report" / "values.json"
    if not path.is_file():
        return {}
    remedy = ("remake it with `snakemake --cores all --forcerun report_values` in that "
              "workspace")
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CompareError(f"{path} cannot be read as JSON ({error}): {remedy}") from None
    if not isinstance(values, dict):
        raise CompareError(f"{path} holds a JSON {type(values).__name__}, not the report's "
                           f"values (an object of named values): {remedy}")
    values.pop("tables", None)
    return dict(flatten(_without_aliases(values), lists=True))


def _without_aliases(value: Any) -> Any:
    """Nested dicts without the lists of dicts that repeat entries of the same dict
    (values.json lists vae.models for the report's loops; each is also vae.<model>)."""
    if not isinstance(value, Mapping):
        return value
    entries = [item for item in value.values() if isinstance(item, Mapping)]
    return {key: _without_aliases(item) for key, item in value.items()
            if not (isinstance(item, list) and item and all(x in entries for x in item))}


def _clip(text: str, width: int, start: int = 0) -> str:
    """`text` from `start`, in at most `width` characters (and a "…" where cut)."""
    body = text[start:]
    return ("…" if start else "") + (body if len(body) <= width else body[:width - 1] + "…")


def _fmt(value: Any, width: int = 60) -> str:
    """A value for a table cell: floats to 6 significant digits, long text shortened."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return _clip("—" if value is None else json.dumps(value, ensure_ascii=False), width)


def _fmt_pair(old: Any, new: Any, width: int = 60) -> tuple[str, str]:
    """Two values for table cells; long texts shown from a little before where they differ."""
    texts = [_fmt(value, width=sys.maxsize) for value in (old, new)]
    same = next((i for i, (x, y) in enumerate(zip(texts[0], texts[1], strict=False)) if x != y),
                min(map(len, texts)))
    start = max(0, same - width // 3) if max(map(len, texts)) > width else 0
    return _clip(texts[0], width, start), _clip(texts[1], width, start)


def _sections(result: Comparison) -> list[tuple[str, list[str], list[list[str]], bool]]:
    """(heading, column names, rows of cells, whether the columns after the first are numbers)
    of each table, for Markdown and HTML alike."""
    def changes(rows: list[Change]) -> list[list[str]]:
        return [[c.where, c.key, _fmt(c.old), _fmt(c.new)] for c in rows]

    numbers = [[name, _fmt(old), _fmt(new), _fmt(new - old) if None not in (old, new) else "—"]
               for name, old, new in result.numbers]
    others = [[name, *_fmt_pair(old, new)] for name, old, new in result.others]
    return [
        (f"Settings that differ ({len(result.settings)})", ["job", "setting", "A", "B"],
         changes(result.settings), False),
        (f"Code and software that differ ({len(result.code)})", ["jobs", "item", "A", "B"],
         changes(result.code), False),
        (f"Report numbers that changed ({len(result.numbers)})", ["number", "A", "B", "B − A"],
         numbers, True),
        (f"Other report values that changed ({len(result.others)})", ["value", "A", "B"],
         others, False),
        (f"Hardware used by training jobs that differs ({len(result.hardware)})",
         ["job and figure", "A", "B", "B − A"],
         [[label, _fmt(old), _fmt(new), _fmt(new - old) if _is_number(old) and _is_number(new)
           else "—"] for label, old, new in result.hardware], True),
    ]


def _unverified_heading(result: Comparison) -> str:
    """Files the comparison cannot vouch for; the numbers of an unvouched values.json too."""
    values = [folder for folder, path, _ in result.unverified if path == "report/values.json"]
    warning = (f": the report numbers of {' and '.join(values)} are not vouched for"
               if values else "")
    return f"Files their records do not vouch for ({len(result.unverified)}){warning}"


def markdown(result: Comparison, a: Path, b: Path) -> str:
    lines = [f"# {a} → {b}", "", f"## {_unverified_heading(result)}", ""]
    lines += [f"- `{folder}/{path}`: {why}" for folder, path, why in result.unverified]
    for heading, header, rows, numeric in _sections(result):
        rule = ["---"] + ["---:" if numeric else "---"] * (len(header) - 1)
        lines += ["", f"## {heading}", "", "| " + " | ".join(header) + " |",
                  "| " + " | ".join(rule) + " |"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                  for row in rows]
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
             f"<h2>{html.escape(_unverified_heading(result))}</h2>",
             table(["folder", "file", "problem"], [list(row) for row in result.unverified])]
    for heading, header, rows, _numeric in _sections(result):
        parts += [f"<h2>{html.escape(heading)}</h2>", table(header, rows)]
    parts += [f"<h2>Artifacts whose bytes changed ({len(result.artifacts)})</h2>",
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
