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
import shutil
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from prml_pipeline.artifacts import PART_SUFFIX, to_json_text
from prml_pipeline.errors import PipelineError
from prml_pipeline.runs.crate import METADATA as CRATE
from prml_pipeline.runs.crate import write_crate
from prml_pipeline.runs.records import load_records, sha256_file

# Logs name absolute paths; checkpoints are scratch; benchmarks are timings of this machine
# whose old dates would make Snakemake think every job stale.
LEFT_OUT = ("logs", "checkpoints", "benchmarks")
# The archive member, beside results/, that holds Snakemake's metadata of the bundled files.
METADATA_MEMBER = "snakemake-metadata.json"
# The hidden folder an unpack extracts and checks in, beside results/.
STAGING_PREFIX = ".unbundle-"
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
            if (relative.parts[0] in LEFT_OUT or not path.is_file()
                    or (path.name.startswith(".") and path.name.endswith(PART_SUFFIX))):
                continue  # a `.part` file is what a killed job left half-written
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


class BundleError(PipelineError):
    """An archive that cannot be unpacked: the message names it, what is wrong and the fix."""


def unpack(archive: Path, into: Path, force: bool = False) -> tuple[int, list[str]]:
    """Extract into `into` and refresh verified artifacts; return (verified, problems).

    Everything is extracted and checked in a hidden staging folder first, and results/ appears
    by one rename once the checks are done: an unpack killed on the way leaves no results/ for
    Snakemake to accept unchecked. The crate is rebuilt from the unpacked records, never
    taken from the archive.
    """
    target = into / "results"
    if target.exists() and not force:
        raise BundleError(f"bundle: {target} exists; move it away, or pass --force to replace it")
    for stale in into.glob(f"{STAGING_PREFIX}*"):  # what an interrupted unpack left
        shutil.rmtree(stale, ignore_errors=True)
    metadata, staging = _extract_checked(archive, into)
    try:
        verified, problems, refresh = _verify(staging, into)
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging / "results", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    workdir = Path(os.path.abspath(into))
    for name in refresh:
        if name in metadata:
            _write_metadata(workdir, name, _localised(metadata[name], workdir))
    (target / CRATE).unlink(missing_ok=True)  # whatever the archive said, it is rebuilt
    if any((target / "provenance").rglob("*.json")):
        try:
            write_crate(target)
        except (KeyError, TypeError, ValueError) as error:
            problems.append(f"{target / CRATE}: not rebuilt, a record lacks what it needs "
                            f"({type(error).__name__}: {error}); `prml crate` rewrites it once "
                            "Snakemake has remade the untrusted jobs")
    return verified, problems


def _extract_checked(archive: Path, into: Path) -> tuple[dict[str, dict[str, Any]], Path]:
    """Extract the archive's results/ into a new staging folder in `into`; return its
    Snakemake metadata and that folder. Every way an archive can be wrong ends in one
    BundleError naming it, and leaves nothing behind."""
    remedy = "make the bundle again with `make bundle` (prml bundle) in the workspace it came from"
    staging = None
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise _open_errors(archive, error, remedy) from None
    try:
        with tar:
            members = tar.getmembers()
            bad = [m.name for m in members if _unsafe(m)]
            if bad:
                raise BundleError(f"bundle: {archive} holds entries other than files and "
                                  f"folders under results/: {bad[:3]}; {remedy}")
            metadata: dict[str, dict[str, Any]] = {}
            if METADATA_MEMBER in tar.getnames():  # archives from before it was bundled lack it
                metadata = _read_bundled_metadata(tar, archive, remedy)
            into.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=into))
            _extract(tar, [m for m in members if m.name.startswith("results/")], staging)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:  # cut short, damaged
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise _open_errors(archive, error, remedy) from None
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if not (staging / "results").is_dir():
        shutil.rmtree(staging, ignore_errors=True)
        raise BundleError(f"bundle: {archive} holds no results/ folder; {remedy}")
    return metadata, staging


def _open_errors(archive: Path, error: BaseException, remedy: str) -> BundleError:
    """The one-line message for an archive that cannot be read."""
    if isinstance(error, FileNotFoundError):
        return BundleError(f"bundle: {archive} not found: name the archive `make bundle` wrote "
                           "(prml-results.tar.gz)")
    if isinstance(error, IsADirectoryError):
        return BundleError(f"bundle: {archive} is a folder, not an archive: name the .tar.gz "
                           "file `make bundle` wrote")
    why = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return BundleError(f"bundle: {archive} is not a readable bundle (a gzip-compressed tar "
                       f"archive): {why}; {remedy}")


def _read_bundled_metadata(tar: tarfile.TarFile, archive: Path,
                           remedy: str) -> dict[str, dict[str, Any]]:
    try:
        value = json.load(tar.extractfile(METADATA_MEMBER))
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(f"bundle: {archive}: {METADATA_MEMBER} is not valid JSON ({error}); "
                          f"{remedy}") from None
    records = value.get("records") if isinstance(value, dict) else None
    if not isinstance(records, dict) or not all(isinstance(r, dict) for r in records.values()):
        raise BundleError(f"bundle: {archive}: {METADATA_MEMBER} holds no map of output path "
                          f"to Snakemake record under \"records\"; {remedy}")
    return records


def _inside(path: str) -> bool:
    """Whether a recorded path stays inside the workspace (relative, no `..`)."""
    return not Path(path).is_absolute() and ".." not in Path(os.path.normpath(path)).parts


def _verify(staging: Path, into: Path) -> tuple[int, list[str], list[str]]:
    """Check every unpacked record's outputs and inputs; give the outputs of each verified
    job fresh times in job order. Returns (verified jobs, problems, their output names)."""
    def where(path: str) -> Path:  # artifacts are in the staging folder, code in the clone
        base = staging if Path(path).parts[:1] == ("results",) else into
        return base / path

    problems: list[str] = []
    verified, refresh = 0, []
    records = load_records(staging / "results" / "provenance")
    depth = _depths(records)
    now = time.time()
    for record in records:
        own = Path(record["_path"]).relative_to(staging).as_posix()
        outside = [path for path in [*record["outputs"], *record["inputs"]] if not _inside(path)]
        outside += [path for path in record["outputs"]
                    if _inside(path) and Path(path).parts[:1] != ("results",)]
        if outside:
            problems.append(f"{own}: names {outside[0]}, outside the workspace's results/: "
                            "its job is not trusted")
            continue
        stale = [path for path, digest in record["inputs"].items()
                 if not _matches(where(path), digest)]
        wrong = [path for path, digest in record["outputs"].items()
                 if not _matches(where(path), digest)]
        problems += [f"{path}: differs from the record of rule {record['rule']}" for path in wrong]
        problems += [f"{path}: input of rule {record['rule']} differs from when it ran"
                     for path in stale]
        if stale or wrong:
            continue  # keeps its archived time and gets no metadata: Snakemake will remake it
        stamp = now + 0.01 * depth[record["_path"]]  # newer than everything it read
        for name in [*map(os.path.normpath, record["outputs"]), own]:
            os.utime(staging / name, (stamp, stamp))
            refresh.append(name)
        verified += 1
    return verified, problems, refresh


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
