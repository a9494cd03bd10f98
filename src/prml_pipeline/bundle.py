"""Move a run: pack results/ into one archive, unpack it into a clone of the same commit.

    python -m prml_pipeline.bundle pack [results] [-o prml-results.tar.gz]   (make bundle)
    python -m prml_pipeline.bundle unpack ARCHIVE                             (make unbundle)

The archive holds every artifact with its provenance record and the RO-Crate
(results/ro-crate-metadata.json); links into the output cache are stored as the files they
point to. Logs (they name absolute paths of the machine that ran the jobs), benchmarks (that
machine's timings) and training checkpoints stay behind.

Unpacking checks every artifact against its record and every recorded input that is code
(the package modules, the scripts, the report's source) against the clone, then gives the
verified artifacts fresh modification times in the order the jobs ran. Snakemake's default
rerun triggers then see what holds: in a clone of the same commit `snakemake -n` has nothing
to do, and an edited source file (say report/report.md) reruns exactly the jobs that read it.
An artifact that fails a check keeps its old time, so Snakemake remakes it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
from pathlib import Path

from prml_pipeline.crate import write_crate
from prml_pipeline.records import load_records, sha256_file

# Logs name absolute paths; checkpoints are scratch; benchmarks are timings of this machine
# whose old dates would make Snakemake think every job stale.
LEFT_OUT = ("logs", "checkpoints", "benchmarks")


def pack(results: Path, archive: Path) -> int:
    """Write the archive; return the number of files in it."""
    write_crate(results)
    count = 0
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(results.rglob("*")):
            relative = path.relative_to(results)
            if relative.parts[0] in LEFT_OUT or not path.is_file():
                continue
            info = tar.gettarinfo(str(path.resolve()), arcname=str(Path("results") / relative))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
            count += 1
    return count


def unpack(archive: Path, into: Path, force: bool = False) -> tuple[int, list[str]]:
    """Extract into `into` and refresh verified artifacts; return (verified, problems)."""
    if (into / "results").exists() and not force:
        raise SystemExit(f"bundle: {into / 'results'} exists; move it away or pass --force")
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        bad = [m.name for m in members if not m.name.startswith("results/") or ".." in m.name
               or not (m.isfile() or m.isdir())]
        if bad:
            raise SystemExit(f"bundle: {archive} holds entries outside results/: {bad[:3]}")
        tar.extractall(into, filter="data")

    problems: list[str] = []
    verified = 0
    records = load_records(into / "results" / "provenance")
    depth = _depths(records)
    now = time.time()
    for record in records:
        stale = [path for path, digest in record["inputs"].items()
                 if not _matches(into / path, digest)]
        wrong = [path for path, digest in record["outputs"].items()
                 if not _matches(into / path, digest)]
        problems += [f"{path}: differs from the record of rule {record['rule']}" for path in wrong]
        problems += [f"{path}: input of rule {record['rule']} differs from when it ran"
                     for path in stale]
        if stale or wrong:
            continue  # keeps its archived time: Snakemake will remake it
        stamp = now + 0.01 * depth[record["_path"]]  # newer than everything it read
        for path in [*(into / out for out in record["outputs"]), Path(record["_path"])]:
            os.utime(path, (stamp, stamp))
        verified += 1
    return verified, problems


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packer = commands.add_parser("pack", help="archive results/")
    packer.add_argument("results", nargs="?", default="results", type=Path)
    packer.add_argument("-o", "--output", type=Path, default=Path("prml-results.tar.gz"))
    unpacker = commands.add_parser("unpack", help="unpack into this workspace")
    unpacker.add_argument("archive", type=Path)
    unpacker.add_argument("--into", type=Path, default=Path("."))
    unpacker.add_argument("--force", action="store_true",
                          help="unpack over an existing results/")
    args = parser.parse_args(argv)
    if args.command == "pack":
        if not (args.results / "provenance").is_dir():
            print(f"bundle: {args.results}/provenance not found: nothing has been built here",
                  file=sys.stderr)
            return 2
        count = pack(args.results, args.output)
        print(f"wrote {args.output}: {count} files (logs, benchmarks, checkpoints left out)")
        return 0
    verified, problems = unpack(args.archive, args.into, args.force)
    print(f"unpacked {args.archive}: {verified} jobs' artifacts match their records")
    for problem in problems:
        print(f"  not trusted, will be remade: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
