"""Move a run: pack results/ into one archive, unpack it into a clone of the same commit.

    python -m prml_pipeline.bundle pack [results] [-o prml-results.tar.gz]   (make bundle)
    python -m prml_pipeline.bundle unpack ARCHIVE                             (make unbundle)

The archive holds every artifact with its provenance record and the RO-Crate
(results/ro-crate-metadata.json); links into the output cache are stored as the files they
point to. Logs (they name absolute paths of the machine that ran the jobs), benchmarks (that
machine's timings) and training checkpoints stay behind. Beside results/ it holds
snakemake-metadata.json: Snakemake's own record of each bundled output (.snakemake/metadata:
rule, params, code, input list, input checksums; keyed by the path relative to the working
directory), which its params, code and input rerun triggers compare with the workflow.

Unpacking checks every artifact against its record and every recorded input that is code
(the package modules, the scripts, the report's source) against the clone, then gives the
verified artifacts fresh modification times in the order the jobs ran and restores their
Snakemake metadata. Snakemake's default rerun triggers then see what holds: in a clone of the
same commit `snakemake -n` has nothing to do, an edited source file (say report/report.md)
reruns exactly the jobs that read it, and a changed setting (say `--config 'plots={dpi: 200}'`)
reruns exactly the jobs whose params it changes. An artifact that fails a check keeps its old
time and gets no metadata, so Snakemake remakes it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
import time
from pathlib import Path
from typing import Any

from prml_pipeline.artifacts import to_json_text
from prml_pipeline.runs.crate import write_crate
from prml_pipeline.runs.records import load_records, sha256_file

# Logs name absolute paths; checkpoints are scratch; benchmarks are timings of this machine
# whose old dates would make Snakemake think every job stale.
LEFT_OUT = ("logs", "checkpoints", "benchmarks")
# The archive member, beside results/, that holds Snakemake's metadata of the bundled files.
METADATA_MEMBER = "snakemake-metadata.json"
# Stands for the packing workspace's absolute path in the archived metadata.
WORKDIR_TOKEN = "<bundle:workdir>"
# Snakemake's software stack hash when no conda env, container or module was deployed.
EMPTY_STACK = hashlib.md5(b"", usedforsecurity=False).hexdigest()


def pack(results: Path, archive: Path) -> int:
    """Write the archive; return the number of files in it."""
    write_crate(results)
    workdir = Path(os.path.abspath(results)).parent
    count = 0
    metadata: dict[str, dict[str, Any]] = {}
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(results.rglob("*")):
            relative = path.relative_to(results)
            if relative.parts[0] in LEFT_OUT or not path.is_file():
                continue
            name = (Path("results") / relative).as_posix()
            info = tar.gettarinfo(str(path.resolve()), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
            count += 1
            if (record := _read_metadata(workdir, name)) is not None:
                metadata[name] = _portable(record, workdir)
        _add_json(tar, METADATA_MEMBER, {"format": 1, "records": metadata})
    return count


def unpack(archive: Path, into: Path, force: bool = False) -> tuple[int, list[str]]:
    """Extract into `into` and refresh verified artifacts; return (verified, problems)."""
    if (into / "results").exists() and not force:
        raise SystemExit(f"bundle: {into / 'results'} exists; move it away or pass --force")
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        bad = [m.name for m in members if _unsafe(m)]
        if bad:
            raise SystemExit(f"bundle: {archive} holds entries other than files and folders "
                             f"under results/: {bad[:3]}")
        metadata: dict[str, dict[str, Any]] = {}
        if METADATA_MEMBER in tar.getnames():  # archives from before it was bundled lack it
            metadata = json.load(tar.extractfile(METADATA_MEMBER))["records"]
        _extract(tar, [m for m in members if m.name.startswith("results/")], into)

    problems: list[str] = []
    verified = 0
    records = load_records(into / "results" / "provenance")
    depth = _depths(records)
    now = time.time()
    workdir = Path(os.path.abspath(into))
    for record in records:
        stale = [path for path, digest in record["inputs"].items()
                 if not _matches(into / path, digest)]
        wrong = [path for path, digest in record["outputs"].items()
                 if not _matches(into / path, digest)]
        problems += [f"{path}: differs from the record of rule {record['rule']}" for path in wrong]
        problems += [f"{path}: input of rule {record['rule']} differs from when it ran"
                     for path in stale]
        if stale or wrong:
            continue  # keeps its archived time and gets no metadata: Snakemake will remake it
        stamp = now + 0.01 * depth[record["_path"]]  # newer than everything it read
        own = Path(record["_path"]).relative_to(into).as_posix()
        for name in [*map(os.path.normpath, record["outputs"]), own]:
            os.utime(into / name, (stamp, stamp))
            if name in metadata:
                _write_metadata(workdir, name, _localised(metadata[name], workdir))
        verified += 1
    return verified, problems


# Snakemake's metadata (its file backend, the default: persistence/file.py). Each output's
# record is JSON in .snakemake/metadata/<key encoded>, the key being the output path as the
# rule names it, relative to the working directory.

def _metadata_file(workdir: Path, key: str) -> Path:
    """Where Snakemake keeps the record of `key`: its URL-safe base64, cut into pieces one
    shorter than the longest file name, all but the last prefixed with "@" (directories)."""
    subject = workdir / ".snakemake" / "metadata"
    limit = (os.pathconf(subject, "PC_NAME_MAX") if os.name == "posix" else 255) or 255
    encoded = base64.urlsafe_b64encode(key.encode()).decode()
    pieces = [encoded[i:i + limit - 1] for i in range(0, len(encoded), limit - 1)]
    return subject.joinpath(*["@" + piece for piece in pieces[:-1]], pieces[-1])


def _read_metadata(workdir: Path, key: str) -> dict[str, Any] | None:
    """The record of a finished job's output, or None (none, unreadable, or still marked
    incomplete: a job that was interrupted)."""
    if not (workdir / ".snakemake" / "metadata").is_dir():
        return None
    path = _metadata_file(workdir, key)
    incomplete = workdir / ".snakemake" / "incomplete" / path.relative_to(
        workdir / ".snakemake" / "metadata")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("incomplete") or incomplete.exists():
        return None
    return record


def _write_metadata(workdir: Path, key: str, record: dict[str, Any]) -> None:
    (workdir / ".snakemake" / "metadata").mkdir(parents=True, exist_ok=True)
    path = _metadata_file(workdir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _portable(record: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The record with nothing that holds only on this machine.

    This workflow names inputs, params and code relative to the working directory, but a path
    under the workspace written absolute becomes WORKDIR_TOKEN (unpack puts the clone's path
    back). A software stack hash that folds in a conda environment also folds in the absolute
    path of its folder (Snakemake does so on purpose: environments do not move), so a clone
    elsewhere would see "software environment changed" on every job: it is dropped, which turns
    that one trigger off for these files (the params still name the torch and numpy versions).
    """
    roots = sorted({os.path.abspath(workdir), os.path.realpath(workdir)}, key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, roots)) + r"(?![\w.-])")
    record = _map_strings(record, lambda text: pattern.sub(WORKDIR_TOKEN, text))
    portable = {EMPTY_STACK}
    if record.get("container_img_url"):
        portable.add(hashlib.md5(record["container_img_url"].encode(),
                                 usedforsecurity=False).hexdigest())
    if record.get("conda_env") and record.get("software_stack_hash") not in portable:
        record["software_stack_hash"] = None
    return record


def _localised(record: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _map_strings(record, lambda text: text.replace(WORKDIR_TOKEN, str(workdir)))


def _map_strings(value: Any, change: Any) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    if isinstance(value, dict):
        return {_map_strings(key, change): _map_strings(item, change)
                for key, item in value.items()}
    return value


def _unsafe(member: tarfile.TarInfo) -> bool:
    """Anything but the metadata file and plain files and folders under results/."""
    if member.name == METADATA_MEMBER:
        return not member.isfile()
    return (not member.name.startswith("results/") or ".." in member.name
            or not (member.isfile() or member.isdir()))


def _add_json(tar: tarfile.TarFile, name: str, value: Any) -> None:
    data = to_json_text(value).encode()
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


def _extract(tar: tarfile.TarFile, members: list[tarfile.TarInfo], into: Path) -> None:
    """Extract the (already checked: plain files and folders under results/) members.
    The "data" filter (Python 3.11.4 and later; 3.14 makes it the default) also refuses
    anything unsafe; without it, the checks in unpack have done that."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, members=members, filter="data")
    else:  # Python < 3.11.4
        tar.extractall(into, members=members)


def _depths(records: list[dict]) -> dict[str, int]:
    """Each record's place in the DAG: 0 for jobs that read no artifact, else one more than the
    deepest job whose outputs it read."""
    producer = {os.path.normpath(out): record["_path"] for record in records
                for out in record["outputs"]}
    inputs = {record["_path"]: [producer[p] for p in map(os.path.normpath, record["inputs"])
                                if p in producer] for record in records}
    depth: dict[str, int] = {}

    def visit(key: str) -> int:
        if key not in depth:
            depth[key] = 1 + max((visit(up) for up in inputs[key]), default=-1)
        return depth[key]

    for key in inputs:
        visit(key)
    return depth


def _matches(path: Path, digest: str) -> bool:
    return path.is_file() and sha256_file(path) == digest
