"""Records, the input check, the job wrapper's error handling and the audit, without a
workflow run (artifact I/O: tests/unit/test_artifacts.py)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from prml_pipeline import artifacts
from prml_pipeline.errors import ArtifactError
from prml_pipeline.runs import audit, harness, records


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_record(rule: str, key: str, outputs: list[str], inputs: dict | None = None) -> None:
    path = Path(f"results/provenance/{rule}/{key}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rule": rule, "wildcards": {}, "inputs": inputs or {},
                                "outputs": {out: records.sha256_file(out) for out in outputs}}))


def make_artifact(path: str, text: str) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return path


def test_sha256_matches_hashlib(workdir):
    data = bytes(range(256)) * 5000
    Path("blob").write_bytes(data)
    assert records.sha256_file("blob") == hashlib.sha256(data).hexdigest()


def test_record_lookup_by_output(workdir):
    make_artifact("results/vae/small/seed42/metrics.json", "{}")
    write_record("train_vae", "small", ["results/vae/small/seed42/metrics.json"])
    assert records.producing_rule("./results/vae/small/seed42/metrics.json") == "train_vae"
    assert records.producing_rule("results/other.json") is None
    assert harness.remedy("results/vae/small/seed42/metrics.json") == (
        "run `snakemake --cores all --forcerun train_vae`")


def test_an_input_that_differs_from_its_record_is_refused(workdir):
    path = make_artifact("results/vae/large/seed42/metrics.json", '{"test_neg_elbo": 172.1}')
    write_record("train_vae", "large", [path])
    harness.verify_inputs([path, "src/unrecorded.py"])  # matches: no error
    Path(path).write_text('{"test_neg_elbo": 122.1}')
    with pytest.raises(ArtifactError) as info:
        harness.verify_inputs([path])
    message = str(info.value)
    assert message.startswith("results/vae/large/seed42/metrics.json does not match its provenance "
                              "record (results/provenance/train_vae/large.json)")
    assert "rule train_vae wrote it" in message
    assert message.endswith("Remedy: run `snakemake --cores all --forcerun train_vae` to remake "
                            "it (and what depends on it).")


@pytest.mark.parametrize("damage, problem", [
    (lambda path: path.write_text('{"rule": "train_vae", "outputs": {'), "is not valid JSON"),
    (lambda path: path.write_text('["not", "a", "record"]'),
     "is not a provenance record: it names no rule"),
    (lambda path: path.mkdir(), "cannot be read: Is a directory"),
])
def test_an_input_whose_record_cannot_be_read_is_refused_with_a_remedy(workdir, damage,
                                                                        problem):
    figure = make_artifact("results/figures/vae_latents.png", "png")
    write_record("figure", "vae_latents", [figure])
    latents = make_artifact("results/vae/large/latents.npz", "arrays")
    bad = Path("results/provenance/encode_latents/large.json")
    bad.parent.mkdir(parents=True)
    damage(bad)
    harness.verify_inputs([figure, "src/prml_pipeline/figures/vae_latents.py"])  # checked
    with pytest.raises(ArtifactError) as info:
        harness.verify_inputs([latents, figure])
    message = str(info.value)
    assert message.startswith(f"results/vae/large/latents.npz cannot be checked against the "
                              f"provenance records: {bad} {problem}")
    assert message.endswith(f"delete it (`rm {bad}`) and run `snakemake --cores all`, which "
                            "remakes the job that wrote it (its outputs and its record).")
    assert ("`chmod a+r" in message) == problem.startswith("cannot be read")


@pytest.mark.parametrize("code, remedy", [
    (errno.ENOSPC, "free space on that file system"),
    (errno.EACCES, "give your user read and write access"),
    (errno.EROFS, "run from a writable folder"),
])
def test_os_errors_are_one_line_with_path_and_remedy(code, remedy):
    line = harness.describe_os_error(OSError(code, os.strerror(code), "results/x.npz"))
    assert line.startswith(f"results/x.npz: {os.strerror(code)}. Remedy: {remedy}")
    assert "\n" not in line


def fake_job(tmp: Path, main_inputs: list[str]) -> SimpleNamespace:
    return SimpleNamespace(
        rule="demo", log=[str(tmp / "demo.log")], input=main_inputs, threads=1,
        output=SimpleNamespace(prov=str(tmp / "prov.json"), items=lambda: []),
        params=SimpleNamespace(items=lambda: []), wildcards=SimpleNamespace(items=lambda: []),
        scriptdir=str(tmp))


def test_a_full_disk_ends_the_job_with_one_line(workdir, capfd):
    def main(smk):
        raise OSError(errno.ENOSPC, "No space left on device", "results/vae/s/weights.pt")

    smk = fake_job(workdir, [])
    with pytest.raises(SystemExit) as info:
        harness.run_step(smk, main)
    assert info.value.code == 1
    err = capfd.readouterr().err
    assert err == ("Error in rule demo: results/vae/s/weights.pt: No space left on device. "
                   "Remedy: free space on that file system (or point the working directory "
                   "elsewhere), then rerun the same command: finished jobs are kept.\n")
    assert "Traceback" not in Path(smk.log[0]).read_text()
    assert not Path(smk.output.prov).exists()


@pytest.mark.parametrize("code, remedy", [
    (errno.ENOSPC, "free space on that file system"),
    (errno.EACCES, "give your user read and write access"),
    (errno.EROFS, "run from a writable folder"),
])
def test_a_failed_write_names_the_artifact_not_a_temporary_file(workdir, capfd, monkeypatch,
                                                                code, remedy):
    """A write or fsync that fails (a full disk) raises an OSError without a file name; the
    message must still name the artifact, never the hidden temporary file."""
    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))

    def main(smk):
        artifacts.save_json("results/vae/s/metrics.json", {"test_neg_elbo": 1.0})

    monkeypatch.setattr(artifacts.os, "fsync", failing_fsync)
    smk = fake_job(workdir, [])
    with pytest.raises(SystemExit):
        harness.run_step(smk, main)
    err = capfd.readouterr().err
    assert err.startswith(f"Error in rule demo: results/vae/s/metrics.json: {os.strerror(code)}. "
                          f"Remedy: {remedy}")
    assert err.count("\n") == 1
    assert os.listdir("results/vae/s") == []  # no half-written file, no temporary left behind


def test_a_failed_temporary_file_names_the_artifact(workdir, monkeypatch):
    def refuse(prefix, suffix, dir):  # as mkstemp fails in a folder the user cannot write
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), f"{dir}/{prefix}k2j.part")

    monkeypatch.setattr(artifacts.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as info:
        artifacts.save_json("results/ro/x.json", {})
    assert info.value.filename == "results/ro/x.json"


def test_an_unwritable_log_folder_is_named(workdir, capfd):
    smk = fake_job(workdir, [])
    Path(smk.log[0]).mkdir()  # a folder where the log file should go: cannot be opened
    with pytest.raises(SystemExit):
        harness.run_step(smk, lambda smk: None)
    assert f"Error in rule demo: {smk.log[0]}: Is a directory" in capfd.readouterr().err


def test_a_job_records_provenance_on_success(workdir):
    smk = fake_job(workdir, [])
    harness.run_step(smk, lambda smk: {"answer": 42})
    record = json.loads(Path(smk.output.prov).read_text())
    assert record["rule"] == "demo" and record["extra"] == {"answer": 42}


def test_audit_reports_an_unreadable_artifact_instead_of_crashing(workdir):
    path = make_artifact("results/figures/f.png", "png")
    write_record("figure", "f", [path])
    os.unlink(path)
    os.mkdir(path)  # a folder where the file should be: reading it fails with an OSError
    findings, checked = audit.audit(Path("results"))
    assert checked == 1
    assert [(f.path, f.problem) for f in findings] == [("results/figures/f.png", "unreadable")]
    assert "Is a directory" in findings[0].rule


def test_audit_reports_a_malformed_record_instead_of_crashing(workdir):
    path = make_artifact("results/figures/f.png", "png")
    write_record("figure", "f", [path])
    record = Path("results/provenance/figure/f.json")
    record.write_text(json.dumps({**json.loads(record.read_text()), "outputs": [path]}))
    findings, checked = audit.audit(Path("results"))
    assert [(f.path, f.problem) for f in findings] == [
        ("results/provenance/figure/f.json", "unreadable"), ("results/figures/f.png", "unrecorded")]
    assert "not maps of path to SHA-256" in findings[0].rule
    with pytest.raises(ArtifactError, match="f.json is not a provenance record"):
        harness.verify_inputs([path])  # never read unchecked, never a crash


def test_the_audit_works_from_any_directory(workdir, monkeypatch):
    workspace = workdir / "workspace"
    workspace.mkdir()
    monkeypatch.chdir(workspace)
    code = make_artifact("src/prml_pipeline/sheet/vae/model.py", "class VAE: ...")
    figure = make_artifact("results/figures/f.png", "png")
    write_record("figure", "f", [figure], inputs={code: records.sha256_file(code)})
    assert audit.audit(Path("results")) == ([], 1)
    for elsewhere in (workdir, Path("/")):
        monkeypatch.chdir(elsewhere)
        assert audit.audit(workspace / "results") == ([], 1)
    Path(workspace / figure).write_text("changed")
    findings, _ = audit.audit(workspace / "results")
    assert [(f.path, f.problem) for f in findings] == [
        (str(workspace / "results/figures/f.png"), "altered")]


def test_a_job_removes_what_a_killed_run_of_it_left_half_written(workdir):
    """A SIGKILL in the middle of atomic_path leaves `.<name>.<random>.part` beside the output."""
    Path("results/report").mkdir(parents=True)
    leftover = Path("results/report/.report.pdf.k3j2x1.part")
    leftover.write_bytes(b"%PDF-1.5 half")
    other = Path("results/report/.report.html.a8b7c6.part")  # another job's: kept
    other.write_bytes(b"<html")
    assert harness.remove_leftovers(["results/report/report.pdf"]) == [leftover]
    assert not leftover.exists() and other.exists()


def test_the_audit_checks_the_current_report_s_jobs_and_lists_leftovers_apart(workdir,
                                                                              capsys):
    """After vae.seed changed from 42 to 43, seed 42's record and files stay behind."""
    from prml_pipeline.runs.cli import main

    data = make_artifact("results/data/train.npz", "data")
    write_record("parse_split", "train", [data])
    old = make_artifact("results/vae/small/seed42/metrics.json", '{"seed": 42}')
    write_record("train_vae", "small/seed42", [old], inputs={data: records.sha256_file(data)})
    new = make_artifact("results/vae/small/seed43/metrics.json", '{"seed": 43}')
    write_record("train_vae", "small/seed43", [new], inputs={data: records.sha256_file(data)})
    values = make_artifact("results/report/values.json", "{}")
    write_record("report_values", "report_values", [values],
                 inputs={new: records.sha256_file(new)})
    pdf = make_artifact("results/report/report.pdf", "%PDF")
    write_record("report_pdf", "report_pdf", [pdf], inputs={values: records.sha256_file(values)})
    Path(old).write_text("edited long after")  # a leftover is not part of the run: no problem
    current, leftovers = records.current_and_leftover(records.load_records())
    assert [r["_path"] for r in leftovers] == ["results/provenance/train_vae/small/seed42.json"]
    assert len(current) == 4
    assert audit.audit(Path("results")) == ([], 4)
    assert main(["audit", "results"]) == 0
    out = capsys.readouterr().out
    assert "leftover   results/provenance/train_vae/small/seed42.json" in out
    assert "audit: 4 artifacts checked, 0 problems" in out
