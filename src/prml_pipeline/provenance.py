"""Provenance records: which code, data, settings, software and machine made each artifact.

Every rule's script runs its work through `run_step`, which sends the script's output to the
rule's log, and on success writes one JSON record per job (the rule's `prov` output, under
results/provenance/<rule>/...) holding the script and its git blob, the commit and whether the
tree was dirty, the config subset with its hash, SHA-256 of every input and output, seeds,
package versions, the device, threads, SLURM job id, host and wall time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from prml_pipeline.artifacts import ArtifactError, save_json, to_json_text

PROVENANCE_DIR = Path("results/provenance")
SOFTWARE = ("snakemake", "torch", "numpy", "matplotlib", "seaborn", "polars")
SCHEMA_VERSION = 1


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob(path: str | os.PathLike[str]) -> str:
    """The id git gives the file's content (`git hash-object`), computed without git."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def config_hash(subset: Any) -> str:
    return hashlib.sha256(to_json_text(subset).encode()).hexdigest()


@functools.cache
def git_state(directory: str) -> dict[str, Any]:
    """Commit of the repository holding `directory` and whether tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", directory, *args], capture_output=True, text=True,
                              check=True, timeout=20).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name() -> str | None:
    """The GPU a job used, when it imported torch and torch sees one (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name()


def software_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _files(paths: Iterable[str]) -> dict[str, str]:
    return {str(path): sha256_file(path) for path in paths if os.path.isfile(path)}


def _find_seeds(value: Any, prefix: str = "") -> dict[str, int]:
    if isinstance(value, dict):
        found: dict[str, int] = {}
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if "seed" in str(key) and isinstance(item, int):
                found[name] = item
            else:
                found.update(_find_seeds(item, name))
        return found
    return {}


def workflow_root(directory: str | os.PathLike[str]) -> Path:
    """The nearest folder at or above `directory` that holds the Snakefile."""
    start = Path(directory).resolve()
    return next((folder for folder in (start, *start.parents)
                 if (folder / "Snakefile").is_file()), start)


def script_path(smk: Any) -> Path:
    """The workflow's own copy of the running script (Snakemake runs a temporary copy)."""
    running = Path(sys.argv[0] if sys.argv and sys.argv[0] else "")
    name = re.sub(r"^tmp[^.]*\.", "", running.name)
    return Path(smk.scriptdir) / name


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that carry a complete message for the user: shown without a traceback."""
    from prml_pipeline.config import ConfigError
    from prml_pipeline.data import DataFormatError, DownloadError
    from prml_pipeline.report import TemplateError
    from prml_pipeline.train import DivergenceError

    return (ArtifactError, ConfigError, DataFormatError, DivergenceError, DownloadError,
            TemplateError)


def build_record(smk: Any, extra: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    script = script_path(smk)
    params = {key: value for key, value in smk.params.items()}
    subset = params.get("cfg", {})
    outputs = [path for key, path in smk.output.items() if key != "prov"]
    return {
        "schema": SCHEMA_VERSION,
        "rule": smk.rule,
        "wildcards": dict(smk.wildcards.items()),
        "script": {
            "path": os.path.relpath(script, workflow_root(smk.scriptdir)),
            "git_blob": git_blob(script) if script.is_file() else None,
        },
        "code": git_state(str(smk.scriptdir)),
        "params": params,
        "config_subset_sha256": config_hash(subset),
        "seeds": _find_seeds(subset),
        "inputs": _files(smk.input),
        "outputs": _files(outputs),
        "software": software_versions(),
        "machine": {
            "host": socket.gethostname(),
            "cpu": cpu_model(),
            "threads": smk.threads,
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "gpu": gpu_name(),
        },
        "time": {
            "start": datetime.fromtimestamp(start, UTC).isoformat(timespec="seconds"),
            "end": datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds"),
            "wall_seconds": round(end - start, 3),
        },
        "extra": extra,
    }


def run_step(smk: Any, main: Callable[[Any], dict[str, Any] | None]) -> None:
    """Run one rule's work with its output sent to the rule's log, then record provenance.

    A user error (bad artifact, failed download) ends the job with its one-paragraph message,
    in the log and on the terminal, instead of a traceback.
    """
    start = time.time()
    terminal = sys.__stderr__
    with open(smk.log[0], "w", buffering=1) as log:
        sys.stdout = sys.stderr = log
        try:
            extra = main(smk) or {}
        except user_errors() as error:
            print(f"ERROR: {error}", file=log)
            print(f"Error in rule {smk.rule}: {error}", file=terminal)
            sys.exit(1)
        except BaseException:
            traceback.print_exc(file=log)
            raise
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    save_json(smk.output.prov, build_record(smk, extra, start, time.time()))


def load_records(root: str | os.PathLike[str] = PROVENANCE_DIR) -> list[dict[str, Any]]:
    records = []
    for path in sorted(Path(root).rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # the audit reports unreadable records; lookups just skip them
        record["_path"] = str(path)
        records.append(record)
    return records


def record_for(artifact: str | os.PathLike[str],
               root: str | os.PathLike[str] = PROVENANCE_DIR) -> dict[str, Any] | None:
    """The provenance record whose outputs include `artifact`, if any."""
    target = os.path.normpath(artifact)
    for record in load_records(root):
        if any(os.path.normpath(path) == target for path in record.get("outputs", {})):
            return record
    return None


def producing_rule(artifact: str | os.PathLike[str]) -> str | None:
    record = record_for(artifact)
    return record["rule"] if record else None
