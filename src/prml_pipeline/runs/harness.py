"""Provenance records: which code, data, settings, software and machine made each artifact.

Every rule's script runs its work through `run_step`, which first checks that each input with
a record still has the bytes its record lists, sends the script's output to the rule's log,
and on success writes one JSON record per job (the rule's `prov` output, under
results/provenance/<rule>/...) holding the script and its git blob, the commit and whether the
tree was dirty, the config subset with its hash, SHA-256 of every input and output, seeds,
package versions, the device, threads, SLURM job id, host and wall time.
"""

from __future__ import annotations

import errno
import functools
import hashlib
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

from prml_pipeline.artifacts import PART_SUFFIX, save_json, to_json_text
from prml_pipeline.errors import ArtifactError, PipelineError
from prml_pipeline.runs import HARNESS_VERSION
from prml_pipeline.runs.records import (
    PROVENANCE_DIR,
    load_records,
    producing_rule,
    rebuild_command,
    sha256_file,
    unusable_record_message,
)

SOFTWARE = ("snakemake", "torch", "numpy", "matplotlib", "seaborn", "polars")
# The record format is part of what the harness writes: see HARNESS_VERSION.
SCHEMA_VERSION = HARNESS_VERSION


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


def build_record(smk: Any, extra: dict[str, Any], start: float, end: float,
                 script: Path | None = None) -> dict[str, Any]:
    """The job's provenance record; `script` is the file that made the outputs (by default
    the rule's script; a figure job names its figure module)."""
    script = script or script_path(smk)
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


def verify_inputs(paths: Iterable[str]) -> None:
    """Refuse to read an artifact whose bytes differ from what its provenance record lists.

    A file edited, damaged or replaced after its job wrote it would otherwise flow into
    figures and the report under a record that vouches for other bytes.
    """
    unusable: list[tuple[str, str]] = []
    records = {os.path.normpath(out): record
               for record in load_records(PROVENANCE_DIR, unusable) for out in record["outputs"]}
    for path in paths:
        record = records.get(os.path.normpath(path))
        if record is None and unusable and _is_artifact(path):
            # A record that cannot be read may be this file's: it cannot be checked.
            raise ArtifactError(unusable_record_message(str(path), *unusable[0]), path)
        if record is None or not os.path.isfile(path):
            continue
        recorded = {os.path.normpath(out): digest for out, digest in record["outputs"].items()}
        if sha256_file(path) != recorded[os.path.normpath(path)]:
            cached = (f" It is a link into the output cache ({os.path.realpath(path)}): the "
                      "entry's owner removes it with `prml cache verify CACHE --remove-bad`, "
                      "or --cache restores it again." if os.path.islink(path) else "")
            raise ArtifactError(
                f"{path} does not match its provenance record ({record['_path']}): it changed "
                f"after rule {record['rule']} wrote it, so nothing may be built from it. "
                f"Remedy: run `{rebuild_command(record['rule'])}` to remake it (and what "
                f"depends on it).{cached}", path
            )


def remove_leftovers(outputs: Iterable[str]) -> list[Path]:
    """Delete the temporary files (`.<name>.*.part`) that a killed earlier run of this job left
    beside its outputs: no other job writes these names, and none may be bundled or read."""
    removed = []
    for output in map(Path, outputs):
        for leftover in output.parent.glob(f".{output.name}.*{PART_SUFFIX}"):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def _is_artifact(path: str | os.PathLike[str]) -> bool:
    """Whether a job of the workflow makes `path` (so a record must vouch for it)."""
    return Path(os.path.normpath(path)).parts[:1] == ("results",)


# What to do about an error of the operating system, by errno.
_OS_REMEDIES = {
    errno.ENOSPC: "free space on that file system (or point the working directory elsewhere)",
    errno.EDQUOT: "free space within your quota (or point the working directory elsewhere)",
    errno.EACCES: "give your user read and write access to it (or run from a folder you own)",
    errno.EPERM: "give your user read and write access to it (or run from a folder you own)",
    errno.EROFS: "run from a writable folder (the file system is mounted read-only)",
}


def describe_os_error(error: OSError) -> str:
    """One line naming the path, what the system said and the remedy."""
    where = " -> ".join(str(name) for name in (error.filename, error.filename2) if name)
    remedy = _OS_REMEDIES.get(error.errno, "fix the cause above")
    return (f"{where or 'a file'}: {error.strerror or error}. Remedy: {remedy}, then rerun "
            "the same command: finished jobs are kept.")


def remedy(path: str | os.PathLike[str] | None, rule: str | None = None) -> str:
    """The fix for a bad artifact, naming the rule that makes it: the one its provenance
    record names, else `rule` (the raiser's knowledge), else none."""
    return f"run `{rebuild_command((path and producing_rule(path)) or rule)}`"


def user_message(error: PipelineError | OSError) -> str:
    """The one paragraph a failed job shows: the error's own message, with the remedy
    appended to an artifact error that names none."""
    if isinstance(error, OSError):
        return describe_os_error(error)
    message = str(error)
    if isinstance(error, ArtifactError) and "Remedy:" not in message:
        message = f"{message} Remedy: {remedy(error.path, error.rule)}"
    return message


def run_step(smk: Any, main: Callable[[Any], dict[str, Any] | None],
             script: str | os.PathLike[str] | None = None) -> None:
    """Run one rule's work with its output sent to the rule's log, then record provenance.

    A user error (bad artifact, failed download, full disk...) ends the job with a
    one-paragraph message, in the log and on the terminal, instead of a traceback.
    """
    start = time.time()
    terminal = sys.__stderr__
    try:
        log = open(smk.log[0], "w", buffering=1)
    except OSError as error:
        print(f"Error in rule {smk.rule}: {describe_os_error(error)}", file=terminal)
        sys.exit(1)
    with log:
        sys.stdout = sys.stderr = log
        try:
            verify_inputs(smk.input)
            remove_leftovers(path for _, path in smk.output.items())
            extra = main(smk) or {}
            save_json(smk.output.prov, build_record(
                smk, extra, start, time.time(), None if script is None else Path(script)))
        except (PipelineError, OSError) as error:
            if isinstance(error, OSError) and error.errno not in _OS_REMEDIES:
                traceback.print_exc(file=log)
                raise
            message = user_message(error)
            print(f"ERROR: {message}", file=log)
            print(f"Error in rule {smk.rule}: {message}", file=terminal)
            sys.exit(1)
        except BaseException:
            traceback.print_exc(file=log)
            raise
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
