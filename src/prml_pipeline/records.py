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


def load_records(root: str | os.PathLike[str] = PROVENANCE_DIR) -> list[dict[str, Any]]:
    """Every readable record under `root`, each with its own path under "_path"."""
    records = []
    for path in sorted(Path(root).rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # the audit reports unreadable or malformed records; lookups skip them
        if isinstance(record, dict) and isinstance(record.get("outputs"), dict):
            record["_path"] = str(path)
            records.append(record)
    return records


def records_by_output(root: str | os.PathLike[str] = PROVENANCE_DIR) -> dict[str, dict[str, Any]]:
    """Map each recorded output path (normalised) to the record that lists it."""
    return {os.path.normpath(path): record for record in load_records(root)
            for path in record.get("outputs", {})}


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
