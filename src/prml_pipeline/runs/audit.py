"""Audit results/: re-hash every artifact and its recorded inputs against the provenance records.

    python -m prml_pipeline.audit [results/]

Lists each artifact whose record no longer matches the files (altered or missing outputs,
inputs changed since the artifact was made, unreadable records) and exits 1 when any is found.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from prml_pipeline.runs.crate import WRITTEN as CRATE_FILES
from prml_pipeline.runs.records import (
    current_and_leftover,
    load_records,
    record_problem,
    sha256_file,
)

# Folders of results/ that hold no artifacts of their own, and what the RO-Crate adds (its
# metadata, README.md and the copy of the workflow's code).
UNRECORDED_OK = ("provenance", "logs", "benchmarks", "checkpoints", *CRATE_FILES)


@dataclass(frozen=True)
class Finding:
    path: str
    problem: str
    rule: str

    def __str__(self) -> str:
        return f"{self.problem:<10} {self.path}  (rule {self.rule})"


def _digest(path: str) -> str | None:
    """SHA-256 of a file; None when it is missing; the OSError text when it cannot be read."""
    if not os.path.lexists(path):
        return None
    try:
        return sha256_file(path)
    except OSError as error:
        return f"unreadable: {error.strerror or error}"


def locate(results: Path, path: str) -> str:
    """Where a recorded path is, seen from here: records name paths relative to the workspace
    that holds `results` (`results/...` for artifacts, `src/...` for code), so that the audit
    works from any directory and on a results folder of any name."""
    parts = Path(path).parts
    if Path(path).is_absolute():
        return path
    if parts[:1] == ("results",):
        return os.path.normpath(results.joinpath(*parts[1:]))
    return os.path.normpath(results.parent / path)


def leftover_records(results: Path) -> list[str]:
    """Records of jobs the current report was not built from (an earlier configuration's)."""
    return [record["_path"] for record in
            current_and_leftover(load_records(results / "provenance"))[1]]


def audit(results: Path) -> tuple[list[Finding], int]:
    """Return the findings and the number of artifacts checked: those of the jobs the current
    report was built from (`leftover_records` lists the others)."""
    findings: list[Finding] = []
    recorded: set[str] = set()
    checked = 0
    usable = []
    for record_path in sorted((results / "provenance").rglob("*.json")):
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError) as error:
            findings.append(Finding(str(record_path), "unreadable", f"? ({error})"))
            continue
        if (problem := record_problem(record)) is not None:
            findings.append(Finding(str(record_path), "unreadable", f"? ({problem})"))
            continue
        usable.append(record)
    current, leftovers = current_and_leftover(usable)
    for record in leftovers:  # an earlier configuration's: neither checked nor unrecorded
        recorded.update(os.path.abspath(locate(results, path)) for path in record["outputs"])
    for record in current:
        outputs, inputs, rule = record["outputs"], record["inputs"], record["rule"]
        outputs = {locate(results, path): digest for path, digest in outputs.items()}
        inputs = {locate(results, path): digest for path, digest in inputs.items()}
        for path, digest in outputs.items():
            checked += 1
            recorded.add(os.path.abspath(path))
            actual = _digest(path)
            if actual is None:
                findings.append(Finding(path, "missing", rule))
            elif actual.startswith("unreadable"):
                findings.append(Finding(path, "unreadable", f"{rule}; {actual}"))
            elif actual != digest:
                findings.append(Finding(path, "altered", rule))
        for path, digest in inputs.items():
            actual = _digest(path)
            if actual is None:
                findings.append(Finding(path, "stale", f"{rule}: input missing"))
            elif actual.startswith("unreadable"):
                findings.append(Finding(path, "unreadable", f"{rule}: input; {actual}"))
            elif actual != digest:
                findings.append(Finding(path, "stale", f"{rule}: input changed since"))
    for path in sorted(results.rglob("*")):
        relative = path.relative_to(results)
        if (path.is_file() and relative.parts[0] not in UNRECORDED_OK
                and not path.name.startswith(".")
                and os.path.abspath(path) not in recorded):
            findings.append(Finding(str(path), "unrecorded", "none"))
    return findings, checked
