"""Unpacking a bundle never vouches for what it did not check: every bad archive is one line,
no path outside the workspace is touched, an interrupted unpack leaves nothing to trust, and
the RO-Crate is rebuilt from the records, never taken from the archive."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from prml_pipeline.runs import bundle
from prml_pipeline.runs.cli import main
from prml_pipeline.runs.records import sha256_file

FIGURE = b"\x89PNG figure"


def record(outputs: dict[str, bytes], inputs: dict[str, bytes] | None = None) -> bytes:
    """A provenance record as the harness writes it, for a figure job."""
    def digests(files: dict[str, bytes]) -> dict[str, str]:
        return {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}

    return json.dumps({
        "schema": 1, "rule": "figure", "wildcards": {"name": "f"}, "params": {"cfg": {}},
        "script": {"path": "scripts/figures/f.py", "git_blob": "0" * 40},
        "code": {"commit": "1" * 40, "dirty": False}, "config_subset_sha256": "2" * 64,
        "seeds": {}, "inputs": digests(inputs or {}), "outputs": digests(outputs),
        "software": {"python": "3.11"}, "extra": {},
        "machine": {"host": "node1", "cpu": "cpu", "threads": 1, "slurm_job_id": None,
                    "cuda_visible_devices": None, "gpu": None},
        "time": {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-01T00:00:01+00:00",
                 "wall_seconds": 1.0}}).encode()


def make_archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_000_000_000
            tar.addfile(info, io.BytesIO(data))
    return path


def good_members() -> dict[str, bytes]:
    return {"results/figures/f.png": FIGURE,
            "results/provenance/figure/f.json": record({"results/figures/f.png": FIGURE})}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_good_archive_unpacks_verified(workspace):
    archive = make_archive(workspace / "run.tar.gz", good_members())
    assert bundle.unpack(archive, workspace / "clone") == (1, [])
    assert (workspace / "clone/results/figures/f.png").read_bytes() == FIGURE
    assert not list((workspace / "clone").glob(".unbundle-*"))


def text(data: str):
    def write(path: Path) -> Path:
        path.write_text(data)
        return path
    return write


def gzipped(path: Path) -> Path:
    path.write_bytes(gzip.compress(b"plain text, gzipped"))
    return path


def folder(path: Path) -> Path:
    path.mkdir()
    return path


def truncated(path: Path) -> Path:
    data = make_archive(path.with_suffix(".full"), good_members()).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "not found: name the archive `make bundle` wrote"),
    (text("not an archive"), "is not a readable bundle"),
    (gzipped, "is not a readable bundle"),
    (truncated, "is not a readable bundle"),
    (folder, "is a folder, not an archive"),
    (lambda p: make_archive(p, {**good_members(), bundle.METADATA_MEMBER: b"[1, 2]"}),
     f"{bundle.METADATA_MEMBER} holds no map of output path to Snakemake record"),
    (lambda p: make_archive(p, {**good_members(), bundle.METADATA_MEMBER: b"{"}),
     f"{bundle.METADATA_MEMBER} is not valid JSON"),
    (lambda p: make_archive(p, {"README": b"x"}), "other than files and folders under results/"),
], ids=["missing", "not gzip", "gzip, not tar", "truncated", "folder", "metadata a list",
        "metadata not JSON", "foreign member"])
def test_every_bad_archive_is_one_line_and_leaves_nothing(workspace, capsys, make, message):
    archive = make(workspace / "run.tar.gz")
    assert main(["unbundle", str(archive), "--into", "clone"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prml unbundle: bundle: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (workspace / "clone/results").exists()
    assert not list(workspace.glob("clone/.unbundle-*"))


def test_a_record_naming_a_path_outside_the_workspace_is_not_trusted(workspace):
    outside = workspace / "outside.txt"
    outside.write_bytes(b"precious")
    os.utime(outside, (1_000_000_000, 1_000_000_000))
    members = good_members()
    members["results/provenance/figure/evil.json"] = record(
        {str(outside): b"precious", "results/figures/g.png": b"g"})
    members["results/provenance/figure/up.json"] = record({"results/../../outside.txt": b"x"})
    members["results/figures/g.png"] = b"g"
    verified, problems = bundle.unpack(make_archive(workspace / "run.tar.gz", members),
                                       workspace / "clone")
    assert verified == 1
    assert sorted(problems) == sorted([
        f"results/provenance/figure/evil.json: names {outside}, outside the workspace's "
        "results/: its job is not trusted",
        "results/provenance/figure/up.json: names results/../../outside.txt, outside the "
        "workspace's results/: its job is not trusted"])
    assert outside.stat().st_mtime == 1_000_000_000 and outside.read_bytes() == b"precious"
    # the untrusted job's artifact keeps its archived time, older than anything verified
    assert (workspace / "clone/results/figures/g.png").stat().st_mtime == 1_000_000_000


def test_an_interrupted_unpack_leaves_no_results(workspace, monkeypatch):
    archive = make_archive(workspace / "run.tar.gz", good_members())

    def killed(*args):
        raise KeyboardInterrupt  # stands for a kill in the middle of the checks

    monkeypatch.setattr(bundle, "_verify", killed)
    with pytest.raises(KeyboardInterrupt):
        bundle.unpack(archive, workspace / "clone")
    assert not (workspace / "clone/results").exists()
    # A SIGKILL would leave the staging folder: the next unpack removes it.
    stale = workspace / "clone/.unbundle-x1y2"
    (stale / "results").mkdir(parents=True)
    monkeypatch.undo()
    assert bundle.unpack(archive, workspace / "clone")[0] == 1
    assert not stale.exists()


def test_the_crate_is_rebuilt_from_the_records_never_taken_from_the_archive(workspace):
    forged = b'{"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": ["forged"]}'
    members = {**good_members(), "results/ro-crate-metadata.json": forged}
    bundle.unpack(make_archive(workspace / "run.tar.gz", members), workspace / "clone")
    crate = workspace / "clone/results/ro-crate-metadata.json"
    assert crate.read_bytes() != forged
    files = {entity["@id"]: entity for entity in json.loads(crate.read_text())["@graph"]}
    assert files["figures/f.png"]["sha256"] == sha256_file(
        workspace / "clone/results/figures/f.png")


def test_a_bundle_leaves_half_written_files_behind(workspace):
    results = workspace / "results"
    (results / "report").mkdir(parents=True)
    (results / "report/report.pdf").write_bytes(b"%PDF whole")
    (results / "report/.report.pdf.k3j2.part").write_bytes(b"%PDF half")
    bundle.pack(results, workspace / "run.tar.gz")
    with tarfile.open(workspace / "run.tar.gz") as tar:
        names = tar.getnames()
    assert "results/report/report.pdf" in names
    assert not [name for name in names if name.endswith(".part")]
