"""The output cache as a shared folder no one can poison.

Snakemake's own local cache (`snakemake.caching.local.OutputFileCache`) keys each cached job by
its provenance hash and stores every output as `<cache>/<key><ext>`: moved in with mode 0666
(writable by everyone) and renamed over whatever entry already holds that name. A shared cache
needs the opposite, so the workflow keeps Snakemake's key, file naming and links but stores and
restores through the functions below, which `install` puts behind each cached rule:

- An entry is one folder `<cache>/<key>/`, filled privately (a 0700 staging folder), made
  read-only (files 0444, folder 0555; 0440/0550 with `cache.mode: group`) whatever the
  writer's umask, and published by one rename. A rename never replaces a folder that holds
  files, so an entry, once there, is never rewritten: of two jobs that store one key at once
  the first rename wins and the other keeps its own outputs in its workspace.
- Each entry holds `index.json`, its digest index (SHA-256 of every file, the workspace path
  it restores to, the writer), written once by the first writer inside the read-only folder.
  A restore re-hashes every file against it and checks that nobody but the owner may write
  the folder or a file, that one user owns them all, that the entry's provenance record
  agrees with the index, and that the record's inputs are the very bytes this workspace holds
  upstream. docs/reliability.md says which attacker each check stops and which it does not.
"""

from __future__ import annotations

import getpass
import json
import os
import pwd
import shutil
import socket
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prml_pipeline.artifacts import to_json_text
from prml_pipeline.runs.records import sha256_file

INDEX = "index.json"
STAGING_PREFIX = ".staging-"
INDEX_FORMAT = 1
# cache.mode: who may read an entry. Nobody may write one.
MODES = {"all": (0o444, 0o555), "group": (0o440, 0o550)}
WRITE_BITS = stat.S_IWGRP | stat.S_IWOTH


def entry_name(ext: str) -> str:
    """File name of one output inside its entry: Snakemake's extension for it (`.gz`,
    `_weights.pt`, ...) after a fixed stem, so that none is hidden."""
    return f"output{ext}"


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name}, uid {uid}"
    except KeyError:  # a uid without a name on this machine
        return f"uid {uid}"


def _removal(entry: Path, owner: int) -> str:
    return (f"Remedy: its owner ({_user(owner)}) or root removes it with "
            f"`prml cache verify {entry.parent} --remove-bad`; until then run without the "
            "output cache (`snakemake --cores all`, without --cache), which recomputes the job "
            "here.")


@dataclass
class EntryCheck:
    """What is wrong with one entry of the cache (empty `problems`: nothing)."""

    path: Path
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)
    index: dict[str, Any] | None = None
    owner: int | None = None

    def add(self, kind: str, detail: str) -> None:
        self.problems.append((kind, detail))


def check_entry(entry: Path) -> EntryCheck:
    """Check one published entry folder: its index, every file's digest and who may write.

    Kinds: `partial` (no index, a file missing), `tampered` (a digest or the record disagrees
    with the index, a file the index does not list, a file not owned by the entry's owner, a
    link or other non-file), `writable` (a file or the folder writable by group or others),
    `unreadable` (this user may not read it: `cache.mode: group`).
    """
    check = EntryCheck(entry)
    info = _check_folder(check)
    files = None if info is None else _check_index(check, info)
    if files is None:
        return check
    try:
        present = {path.name for path in entry.iterdir()} - {INDEX}
    except OSError as error:
        check.add("unreadable", f"{entry}: {error.strerror}")
        return check
    for name in sorted(present - set(files)):
        check.add("tampered", f"{entry / name} is not in the entry's digest index")
    for name, listed in sorted(files.items()):
        _check_file(check, entry / name, listed, info.st_uid)
    if not any(kind == "tampered" for kind, _ in check.problems):
        disagreement = record_disagreement(entry, files)
        if disagreement:
            check.add("tampered", disagreement)
    return check


def _check_folder(check: EntryCheck) -> os.stat_result | None:
    """The entry folder's own status, or None when it is no folder to check further."""
    entry = check.path
    try:
        info = entry.lstat()
    except OSError as error:
        check.add("unreadable", f"{entry}: {error.strerror}")
        return None
    if not stat.S_ISDIR(info.st_mode):
        check.add("tampered", f"{entry} is not a folder")
        return None
    check.owner = info.st_uid
    if info.st_mode & WRITE_BITS:
        check.add("writable", f"{entry} is writable by others "
                  f"(mode {stat.S_IMODE(info.st_mode):04o})")
    return info


def _check_index(check: EntryCheck, info: os.stat_result) -> dict[str, Any] | None:
    """The digest index's `files` (name -> listing), or None when it cannot be trusted."""
    entry = check.path
    index_path = entry / INDEX
    try:
        index_info = index_path.lstat()
        index = json.loads(index_path.read_text())
    except FileNotFoundError:
        check.add("partial", f"{index_path} is missing (an interrupted or foreign store)")
        return None
    except PermissionError as error:  # cache.mode: group, and this user is not in the group
        check.add("unreadable", f"{index_path}: {error.strerror}")
        return None
    except (OSError, ValueError) as error:
        check.add("tampered", f"{index_path} cannot be read: {error}")
        return None
    if not stat.S_ISREG(index_info.st_mode) or index_info.st_uid != info.st_uid:
        check.add("tampered", f"{index_path} is not a file of the entry's owner")
        return None
    if index_info.st_mode & WRITE_BITS:
        check.add("writable", f"{index_path} is writable by others")
    files = index.get("files") if isinstance(index, dict) else None
    if (not isinstance(files, dict) or index.get("key") != entry.name
            or not all(isinstance(listed, dict) for listed in files.values())):
        check.add("tampered", f"{index_path} is not the digest index of key {entry.name}")
        return None
    check.index = index
    return files


def _check_file(check: EntryCheck, path: Path, listed: dict[str, Any], owner: int) -> None:
    """One listed file: present, a plain file of the entry's owner, not writable by others,
    and of the digest the index lists."""
    try:
        file_info = path.lstat()
    except FileNotFoundError:
        check.add("partial", f"{path} is missing")
        return
    except OSError as error:
        check.add("unreadable", f"{path}: {error.strerror}")
        return
    if not stat.S_ISREG(file_info.st_mode) or file_info.st_uid != owner:
        check.add("tampered", f"{path} is not a plain file of the entry's owner")
        return
    if file_info.st_mode & WRITE_BITS:
        check.add("writable", f"{path} is writable by others "
                  f"(mode {stat.S_IMODE(file_info.st_mode):04o})")
    try:
        digest = sha256_file(path)
    except OSError as error:
        check.add("unreadable", f"{path}: {error.strerror}")
        return
    if digest != listed.get("sha256"):
        check.add("tampered", f"{path} has SHA-256 {digest[:12]}…, its digest index "
                  f"lists {str(listed.get('sha256'))[:12]}…: it changed after it was stored")


def _record_name(files: dict[str, Any]) -> str | None:
    """The entry's file that is the job's provenance record (its `prov` output), if any."""
    return next((name for name, listed in files.items()
                 if str(listed.get("output", "")).startswith("results/provenance/")), None)


def record_disagreement(entry: Path, files: dict[str, Any]) -> str | None:
    """Whether the entry's own provenance record lists the outputs the index lists."""
    record = _record_name(files)
    if record is None:
        return None
    record_path = entry / record
    try:
        outputs = json.loads(record_path.read_text()).get("outputs", {})
    except (OSError, ValueError, AttributeError):
        return f"{record_path} is not a readable provenance record"
    for name, listed in files.items():
        output = listed.get("output")
        if name == record or output is None:
            continue
        if not isinstance(outputs, dict) or outputs.get(output) != listed.get("sha256"):
            return (f"{record_path} lists other bytes for {output} than the digest index "
                    f"({entry / name})")
    return None


def _chmod_tree(folder: Path, file_mode: int, dir_mode: int) -> None:
    for path in folder.iterdir():
        os.chmod(path, file_mode)
    os.chmod(folder, dir_mode)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_entry(entry: Path) -> None:
    """Delete a folder of the cache that the caller owns (entries are read-only)."""
    if entry.is_dir() and not entry.is_symlink():
        os.chmod(entry, 0o700)
        for path in entry.iterdir():
            if path.is_dir() and not path.is_symlink():
                remove_entry(path)
            else:
                path.unlink()
        entry.rmdir()
    else:
        entry.unlink()


def publish(cache: Path, key: str, outputs: list[tuple[Path, str]], rule: str,
            mode: str = "all") -> Path | None:
    """Store copies of `outputs` ((workspace path, extension) pairs) as the entry `key`.

    Returns the entry, or None when the key already had one (the caller keeps its files).
    """
    file_mode, dir_mode = MODES[mode]
    entry = cache / key
    if entry.exists() or entry.is_symlink():
        return None
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{key}-", dir=cache))
    try:
        files = {}
        for output, ext in outputs:
            name = entry_name(ext)
            shutil.copyfile(output, staging / name)
            _fsync(staging / name)
            files[name] = {"sha256": sha256_file(staging / name),
                           "size": (staging / name).stat().st_size,
                           "output": os.path.normpath(output)}
        uid = os.getuid()
        index = {"format": INDEX_FORMAT, "key": key, "rule": rule, "files": files,
                 "writer": {"uid": uid, "user": _login(), "host": socket.gethostname()},
                 "stored": datetime.now(UTC).isoformat(timespec="seconds")}
        (staging / INDEX).write_text(to_json_text(index))
        _fsync(staging / INDEX)
        _chmod_tree(staging, file_mode, dir_mode)
        try:
            os.rename(staging, entry)  # never replaces a folder that holds files
        except OSError as error:
            if entry.exists():
                return None
            raise error
        staging = None
        _fsync(cache)
        return entry
    finally:
        if staging is not None and staging.exists():
            remove_entry(staging)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())



@dataclass(frozen=True)
class Finding:
    """One problem of the cache: its kind, the path and what is wrong."""

    kind: str
    path: Path
    detail: str
    owner: int | None = None

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.detail}"


def verify_cache(cache: Path) -> tuple[list[Finding], int]:
    """Re-hash every entry of the cache; return the findings and the number of entries."""
    findings: list[Finding] = []
    info = cache.stat()
    if info.st_mode & WRITE_BITS and not info.st_mode & stat.S_ISVTX:
        findings.append(Finding("unsafe", cache, (
            f"{cache} is writable by others without the sticky bit: anyone may rename an "
            f"entry away and put another in its place. Remedy: chmod +t {cache}"), info.st_uid))
    entries = 0
    for item in sorted(cache.iterdir()):
        owner = item.lstat().st_uid
        if item.name.startswith(STAGING_PREFIX):
            findings.append(Finding("partial", item, f"{item}: a store that was interrupted "
                                    "(its job was killed); never restored", owner))
        elif item.is_dir() and not item.is_symlink():
            entries += 1
            check = check_entry(item)
            findings += [Finding(kind, item, detail, owner) for kind, detail in check.problems]
        else:
            findings.append(Finding("unindexed", item, f"{item}: not an entry of this workflow "
                                    "(no digest index vouches for it); never restored", owner))
    return findings, entries



def remove_bad(findings: list[Finding], cache: Path) -> list[tuple[Path, str | None]]:
    """Delete each entry a finding names (the cache folder itself stays): as its owner or
    root, since the sticky cache folder lets no one else. Returns (path, why not) pairs, the
    reason None where it was removed."""
    done: list[tuple[Path, str | None]] = []
    for path in dict.fromkeys(f.path for f in findings if f.path != cache):
        try:
            remove_entry(path)
            done.append((path, None))
        except OSError as error:
            owner = _user(path.lstat().st_uid) if os.path.lexists(path) else "?"
            done.append((path, f"{error.strerror}: only its owner ({owner}) or root may"))
    return done


def default_location() -> Path:
    """The cache the workflow uses: $SNAKEMAKE_OUTPUT_CACHE, else .cache/snakemake-outputs."""
    return Path(os.environ.get("SNAKEMAKE_OUTPUT_CACHE", ".cache/snakemake-outputs"))

# --- Snakemake glue: the cached rules store and restore through the functions above ---------

def install(workflow: Any, mode: str) -> None:
    """Make every rule marked `cache: True` store and restore through `SharedRuleCache`.

    Snakemake builds its cache backend (`workflow.output_file_cache`) only when the run starts;
    the rules' `cache` objects are what its executors call, so they are swapped here, at
    parse time, keeping Snakemake's flags, key and checks.
    """
    from snakemake.caching.rule import RuleCache

    class SharedRuleCache(RuleCache):
        async def exists(self, job):
            backend = self.rule.workflow.output_file_cache
            if not _is_local(backend):
                return await super().exists(job)
            entry = await _entry(backend, job)
            return (entry / INDEX).is_file()

        async def fetch(self, job):
            backend = self.rule.workflow.output_file_cache
            if not _is_local(backend):
                return await super().fetch(job)
            await restore(backend, job)

        async def store(self, job):
            backend = self.rule.workflow.output_file_cache
            if not _is_local(backend):
                return await super().store(job)
            await store(backend, job, mode)

    for rule in workflow.rules:
        if rule.cache is not None:
            rule.cache = SharedRuleCache(rule, rule.cache.flag)


def _is_local(backend: Any) -> bool:
    from snakemake.caching.local import OutputFileCache
    return isinstance(backend, OutputFileCache)


async def _entry(backend: Any, job: Any) -> Path:
    return Path(backend.path) / await backend.provenance_hash_map.get_provenance_hash(job)


async def restore(backend: Any, job: Any) -> None:
    """Link a job's outputs to its verified entry; a cache miss (Snakemake then runs the job)
    when there is none, or when the entry is incomplete or was computed from other bytes than
    this workspace holds upstream; a WorkflowError when the entry was altered."""
    from snakemake.exceptions import WorkflowError
    from snakemake.logging import logger

    entry = await _entry(backend, job)
    if not (entry.exists() or entry.is_symlink()):
        backend.raise_cache_miss_exception(job)
    outputs = list(backend.get_outputfiles(job))
    check = check_entry(entry)
    refused = [(kind, detail) for kind, detail in check.problems
               if kind not in ("partial", "unreadable")]
    if refused:
        kind, detail = refused[0]
        raise WorkflowError(f"Output cache entry {entry} is refused ({kind}): {detail}. "
                            f"{_removal(entry, check.owner if check.owner is not None else 0)}")
    if check.problems or check.index is None:
        # Never stored completely, or not shared with this user (cache.mode: group).
        kind, detail = check.problems[0]
        state = "incomplete" if kind == "partial" else "unreadable here"
        logger.warning(f"Output cache entry {entry} is {state} ({detail}): not restored, "
                       f"{job.rule.name} runs here.")
        backend.raise_cache_miss_exception(job)
    files = check.index["files"]
    if set(files) != {entry_name(ext) for _, ext in outputs}:
        raise WorkflowError(f"Output cache entry {entry} is refused (tampered): it holds "
                            f"{sorted(files)}, not the outputs of rule {job.rule.name}. "
                            f"{_removal(entry, check.owner)}")
    stale = upstream_mismatch(entry, files, job.input)
    if stale:
        logger.warning(f"Output cache entry {entry} was computed from other bytes of {stale} "
                       f"than this workspace holds: not restored, {job.rule.name} runs here.")
        backend.raise_cache_miss_exception(job)
    for output, ext in outputs:
        backend.symlink(entry / entry_name(ext), Path(output))
    writer = check.index.get("writer", {})
    logger.info(f"Restored {job.rule.name} from output cache entry {entry} (stored by "
                f"{writer.get('user', '?')} on {writer.get('host', '?')}, "
                f"{check.index.get('stored', '?')}; every file matches its digest index).")


def upstream_mismatch(entry: Path, files: dict[str, Any], inputs: Any) -> str | None:
    """The first input of this job whose bytes here differ from those the entry's provenance
    record was computed from, or None."""
    record = _record_name(files)
    if record is None:
        return None
    recorded = json.loads((entry / record).read_text()).get("inputs", {})
    if not isinstance(recorded, dict):
        return f"the inputs its record {entry / record} lists"
    recorded = {os.path.normpath(path): digest for path, digest in recorded.items()}
    for path in inputs:
        digest = recorded.get(os.path.normpath(path))
        if digest is not None and os.path.isfile(path) and sha256_file(path) != digest:
            return str(path)
    return None


async def store(backend: Any, job: Any, mode: str) -> None:
    """Publish a finished job's outputs as a new entry and link them to it; when the key
    already has an entry (another workspace stored it first) the outputs stay as they are."""
    from snakemake.exceptions import WorkflowError
    from snakemake.logging import logger

    entry = await _entry(backend, job)
    outputs = [(Path(output), ext) for output, ext in backend.get_outputfiles(job)]
    for output, _ in outputs:
        if not output.is_file() or output.is_symlink():
            raise WorkflowError(f"Cannot store {output} in the output cache: it is not a file "
                                f"the job wrote.")
    try:
        published = publish(entry.parent, entry.name, outputs, job.rule.name, mode)
    except OSError as error:
        logger.warning(f"Could not store the outputs of {job.rule.name} in the output cache "
                       f"{entry.parent} ({error.strerror}: {error.filename}); they stay in "
                       f"this workspace.")
        return
    if published is None:
        logger.info(f"Output cache entry {entry} already exists (stored by another run): the "
                    f"outputs of {job.rule.name} stay in this workspace.")
        return
    for output, ext in outputs:
        logger.info(f"Moving output file {output} to cache.")
        link = output.with_name(f".{output.name}.cache-link")
        os.symlink(published / entry_name(ext), link)
        os.replace(link, output)
