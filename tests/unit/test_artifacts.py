"""Artifact I/O without a workflow run: one atomic writer and one file mode for every artifact,
reproducible bytes, and read errors that name the file and the rule that remakes it."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from prml_pipeline import artifacts
from prml_pipeline.errors import ArtifactError, PipelineError
from prml_pipeline.figures import style
from prml_pipeline.runs import harness, records
from prml_pipeline.sheet import data


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_record(rule: str, outputs: list[str]) -> None:
    path = Path(f"results/provenance/{rule}/{rule}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rule": rule, "wildcards": {}, "inputs": {},
                                "outputs": {out: records.sha256_file(out) for out in outputs}}))


def write_with_every_writer() -> list[str]:
    """One file from each way the pipeline writes an artifact."""
    artifacts.save_json("a.json", {"x": 1})
    artifacts.save_arrays("b.npz", x=np.arange(3))
    with artifacts.atomic_open("c.bin") as handle:  # streams: downloads
        handle.write(b"data")
    with artifacts.atomic_path("d.pt") as tmp:  # libraries given a path: weights, checkpoints
        tmp.write_bytes(b"weights")
    data.write_idx("e.gz", np.zeros((2, 3), dtype=np.uint8))
    figure = plt.figure(figsize=(1, 1))
    style.save_figure(figure, "f.png", dpi=10)
    Path("source").mkdir()
    Path("source/g.gz").write_bytes(b"raw")
    data.fetch_file("g.gz", data.md5sum("source/g.gz"), Path("g.gz"), mirrors=[],
                    local_dir="source", log=lambda line: None)
    return ["a.json", "b.npz", "c.bin", "d.pt", "e.gz", "f.png", "g.gz"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_every_writer_gives_the_mode_the_umask_gives(workdir, umask):
    old = os.umask(umask)
    try:
        names = write_with_every_writer()
    finally:
        os.umask(old)
    modes = {name: stat.S_IMODE(os.stat(name).st_mode) for name in names}
    assert modes == dict.fromkeys(names, 0o666 & ~umask)
    assert not list(workdir.rglob(".*.part")), "a temporary file was left behind"


def test_an_interrupted_write_leaves_the_old_file(workdir):
    artifacts.save_json("a.json", {"x": 1})
    with pytest.raises(RuntimeError), artifacts.atomic_open("a.json") as handle:
        handle.write(b"half")
        raise RuntimeError("killed")
    assert json.loads(Path("a.json").read_text()) == {"x": 1}
    assert not list(workdir.glob(".*.part"))


def test_a_new_folder_is_made_for_the_artifact(workdir):
    artifacts.save_json("results/deep/folder/a.json", [1])
    assert json.loads(Path("results/deep/folder/a.json").read_text()) == [1]


def test_equal_arrays_give_equal_bytes(workdir):
    artifacts.save_arrays("one.npz", b=np.ones(3), a=np.arange(4, dtype=np.int32))
    os.utime("one.npz", (0, 0))
    artifacts.save_arrays("two.npz", a=np.arange(4, dtype=np.int32), b=np.ones(3))
    assert Path("one.npz").read_bytes() == Path("two.npz").read_bytes()
    with zipfile.ZipFile("one.npz") as archive:
        assert [info.date_time for info in archive.infolist()] == [(1980, 1, 1, 0, 0, 0)] * 2
    loaded = artifacts.load_arrays("one.npz", required=("a", "b"))
    np.testing.assert_array_equal(loaded["a"], np.arange(4))


def test_json_is_canonical():
    text = artifacts.to_json_text({"b": np.float64(0.5), "a": np.arange(2), "c": (1, 2)})
    assert json.loads(text) == {"a": [0, 1], "b": 0.5, "c": [1, 2]}
    assert text.startswith('{\n  "a": [\n    0,') and text.endswith("\n}\n")
    with pytest.raises(ValueError):
        artifacts.to_json_text({"x": float("nan")})


def test_a_truncated_archive_names_the_rule_from_its_record(workdir):
    artifacts.save_arrays("results/data/test.npz", images=np.zeros((4, 784), dtype=np.uint8))
    write_record("parse_split", ["results/data/test.npz"])
    blob = Path("results/data/test.npz").read_bytes()
    Path("results/data/test.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ArtifactError) as info:
        artifacts.load_arrays("results/data/test.npz")
    message = harness.user_message(info.value)
    assert message.startswith("results/data/test.npz is truncated or corrupt (")
    assert message.endswith("Remedy: run `snakemake --cores all --forcerun parse_split`")
    assert isinstance(info.value, PipelineError) and isinstance(info.value, ValueError)


def test_missing_arrays_are_listed(workdir):
    artifacts.save_arrays("x.npz", latents=np.zeros(2))
    with pytest.raises(ArtifactError, match=r"x.npz lacks the arrays \['labels'\]"):
        artifacts.load_arrays("x.npz", required=("latents", "labels"))


def test_a_missing_or_corrupt_json_is_named_and_the_harness_adds_the_remedy(workdir):
    with pytest.raises(ArtifactError, match=r"^m.json is missing.$") as info:
        artifacts.load_json("m.json")
    assert harness.user_message(info.value) == (
        "m.json is missing. Remedy: run `snakemake --cores all`")
    Path("m.json").write_text('{"epochs": 1')
    with pytest.raises(ArtifactError, match=r"^m.json is truncated or corrupt \(invalid JSON"):
        artifacts.load_json("m.json")


def test_the_remedy_prefers_the_record_then_the_callers_rule(workdir):
    assert harness.remedy("w.pt", "train_vae") == (
        "run `snakemake --cores all --forcerun train_vae`")
    Path("w.pt").write_bytes(b"x")
    write_record("other_rule", ["w.pt"])
    assert harness.remedy("w.pt", "train_vae") == (
        "run `snakemake --cores all --forcerun other_rule`")
