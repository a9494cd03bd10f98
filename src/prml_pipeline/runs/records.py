"""Reading provenance records: which record, and so which rule, made an artifact.

Records are JSON files under results/provenance/<rule>/<wildcards>.json written by
`provenance.run_step`; each lists the SHA-256 of the job's outputs. This module only reads
them, so that every other module may use it without an import circle.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

PROVENANCE_DIR = Path("results/provenance")


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_problem(record: Any) -> str | None:
    """What makes a parsed record unusable, or None: every reader relies on its rule name and
    its outputs and inputs as maps of path to SHA-256."""
    if not isinstance(record, dict) or not isinstance(record.get("rule"), str):
        return "it names no rule"
    if not (isinstance(record.get("outputs"), dict) and isinstance(record.get("inputs"), dict)):
        return "its outputs and inputs are not maps of path to SHA-256"
    return None


def load_records(root: str | os.PathLike[str] = PROVENANCE_DIR,
                 unusable: list[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """Every usable record under `root`, each with its own path under "_path".

    A record that cannot be read or is malformed is skipped; with `unusable`, it is listed
    there as (path, what is wrong), so that a caller that needs every record can refuse.
    """
    records = []
    for path in sorted(Path(root).rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except OSError as error:
            problem = f"cannot be read: {error.strerror or error}"
        except ValueError as error:
            problem = f"is not valid JSON: {error}"
        else:
            problem = record_problem(record)
            if problem is None:
                record["_path"] = str(path)
                records.append(record)
                continue
            problem = f"is not a provenance record: {problem}"
        if unusable is not None:
            unusable.append((str(path), problem))
    return records


def unusable_record_message(path: str, record: str, problem: str) -> str:
    """Why `path` cannot be checked, and a remedy that ends the refusal: once the record is
    gone, `rule all` (which asks for every record) remakes the job that writes it."""
    access = (f"give your user read access to it (`chmod a+r {record}`), or "
              if problem.startswith("cannot be read") else "")
    return (f"{path} cannot be checked against the provenance records: {record} {problem}. "
            f"Nothing may be built from unchecked files. Remedy: {access}delete it "
            f"(`rm {record}`) and run `snakemake --cores all`, which remakes the job that "
            "wrote it (its outputs and its record).")


def records_by_output(root: str | os.PathLike[str] = PROVENANCE_DIR) -> dict[str, dict[str, Any]]:
    """Map each recorded output path (normalised) to the record that lists it."""
    return {os.path.normpath(path): record for record in load_records(root)
            for path in record["outputs"]}


def record_for(artifact: str | os.PathLike[str],
               root: str | os.PathLike[str] = PROVENANCE_DIR) -> dict[str, Any] | None:
    """The provenance record whose outputs include `artifact`, if any."""
    return records_by_output(root).get(os.path.normpath(artifact))


def producing_rule(artifact: str | os.PathLike[str]) -> str | None:
    record = record_for(artifact)
    return record["rule"] if record else None


def rebuild_command(rule: str | None) -> str:
    """The command that remakes a rule's artifacts from what they depend on."""
    return (f"snakemake --cores all --forcerun {rule}" if rule
            else "snakemake --cores all")


# What `rule all` asks for last: the jobs of the current configuration are those these
# artifacts were built from, directly or through other jobs.
FINAL_ARTIFACTS = ("results/report/report.pdf", "results/report/report.html")


def current_and_leftover(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                  list[dict[str, Any]]]:
    """Split records into the jobs the final report was built from (the current
    configuration's) and leftovers of earlier configurations (a changed seed, a model
    dropped), which Snakemake never deletes. Without a record of the report, all are current."""
    producer = {os.path.normpath(path): index for index, record in enumerate(records)
                for path in record["outputs"]}
    todo = [producer[final] for final in FINAL_ARTIFACTS if final in producer]
    if not todo:
        return records, []
    current: set[int] = set()
    while todo:
        index = todo.pop()
        if index in current:
            continue
        current.add(index)
        todo += [producer[path] for path in map(os.path.normpath, records[index]["inputs"])
                 if path in producer]
    return ([r for i, r in enumerate(records) if i in current],
            [r for i, r in enumerate(records) if i not in current])
