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


def load_records(root: str | os.PathLike[str] = PROVENANCE_DIR) -> list[dict[str, Any]]:
    """Every usable record under `root`, each with its own path under "_path"."""
    records = []
    for path in sorted(Path(root).rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # the audit reports unreadable or malformed records; lookups skip them
        if record_problem(record) is None:
            record["_path"] = str(path)
            records.append(record)
    return records


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
