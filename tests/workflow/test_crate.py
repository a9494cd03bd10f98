"""The provenance records as a Workflow Run RO-Crate that other tools load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from rocrate.rocrate import ROCrate

from prml_pipeline.runs.cli import main
from prml_pipeline.runs.crate import write_crate

PROVENANCE_PROFILE = "https://w3id.org/ro/wfrun/provenance/0.5"
LEFT_OUT = ("logs", "benchmarks", "checkpoints")


def as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def ids(value) -> set[str]:
    return {entity.id for entity in as_list(value)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_provenance_run_crate(results: Path) -> ROCrate:
    """What the Provenance Run Crate profile asks of results/ro-crate-metadata.json."""
    crate = ROCrate(results)  # the rocrate library reads it back
    graph = json.loads((results / "ro-crate-metadata.json").read_text())["@graph"]
    assert len({entity["@id"] for entity in graph}) == len(graph), "duplicate @id"
    root = next(entity for entity in graph if entity["@id"] == "./")
    assert PROVENANCE_PROFILE in {profile["@id"] for profile in root["conformsTo"]}
    records = [json.loads(path.read_text())
               for path in sorted((results / "provenance").rglob("*.json"))]
    assert records

    # The workflow run: instrument the main entity, from the first job start to the last end.
    workflow = crate.mainEntity
    assert {"File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"} <= set(
        as_list(workflow.type))
    actions = crate.get_by_type("CreateAction")
    runs = [a for a in actions if a["instrument"].id == workflow.id]
    assert len(runs) == 1
    run = runs[0]
    assert run["startTime"] == min(r["time"]["start"] for r in records)
    assert run["endTime"] == max(r["time"]["end"] for r in records)
    assert run.id in ids(crate.root_dataset["mentions"])
    jobs = [a for a in actions if a is not run]
    assert len(jobs) == len(records)
    assert all(job.id.startswith("#job/") for job in jobs)
    made = {entity.id for job in jobs for entity in as_list(job["result"])}
    assert not ids(run["object"]) & made, "a workflow input was made by a job"
    assert ids(run["result"]) <= made

    # One HowToStep per rule, in the workflow's steps, each naming its rule's scripts.
    steps = {step.id: step for step in as_list(workflow["step"])}
    rules = {record["rule"] for record in records}
    assert set(steps) == {f"#step/{rule}" for rule in rules}
    for step in steps.values():
        assert "HowToStep" in as_list(step.type)
        assert ids(step["workExample"]) <= ids(workflow["hasPart"])

    # One ControlAction per job: instrument its rule's step, object the job.
    controls = crate.get_by_type("ControlAction")
    assert len(controls) == len(jobs)
    for job in jobs:
        pointing = [c for c in controls if ids(c["object"]) == {job.id}]
        assert len(pointing) == 1, job.id
        step = pointing[0]["instrument"]
        assert step.id == f"#step/{job.id.split('/')[1]}"
        assert job["instrument"].id in ids(step["workExample"])
        assert job["startTime"] <= job["endTime"]

    # A rule's step comes after the steps of the rules whose files it reads.
    maker = {entity.id: job for job in jobs for entity in as_list(job["result"])}
    position = {control["object"].id: control["instrument"]["position"] for control in controls}
    for job in jobs:
        for entity in as_list(job["object"]):
            source = maker.get(entity.id)
            if source is not None and source.id.split("/")[1] != job.id.split("/")[1]:
                assert position[job.id] > position[source.id], (job.id, source.id)

    # The engine run: Snakemake with its version; the step runs in, the workflow run out.
    organize = crate.get_by_type("OrganizeAction")
    assert len(organize) == 1
    engine = organize[0]["instrument"]
    assert "SoftwareApplication" in as_list(engine.type)
    assert engine["name"] == "snakemake"
    assert engine["version"] in {r["software"]["snakemake"] for r in records}
    assert organize[0]["result"].id == run.id
    assert ids(organize[0]["object"]) == {control.id for control in controls}

    # Every file under results/ but logs, benchmarks and checkpoints is a File with its SHA-256.
    files = {unquote(entity.id): entity for entity in crate.data_entities}
    walked = {path.relative_to(results).as_posix(): path for path in results.rglob("*")
              if path.is_file() and path.relative_to(results).parts[0] not in LEFT_OUT
              and path.name != "ro-crate-metadata.json"}
    assert walked
    assert walked.keys() <= files.keys(), walked.keys() - files.keys()
    for name, path in walked.items():
        assert "File" in as_list(files[name].type), name
        assert files[name]["sha256"] == sha256(path), name
    assert not {name for name in files if name.split("/")[0] in LEFT_OUT}

    # Each figure is the result of exactly one job.
    for figure in (results / "figures").glob("*.png"):
        makers = [job for job in jobs if f"figures/{figure.name}" in ids(job["result"])]
        assert len(makers) == 1, figure.name
    return crate


@pytest.mark.slow
def test_crate_loads_back_and_holds_every_artifact_with_its_checksum(tiny_run):
    results = tiny_run[0] / "results"
    crate = ROCrate(results)  # the rocrate library reads it back
    graph = json.loads((results / "ro-crate-metadata.json").read_text())["@graph"]
    root = next(entity for entity in graph if entity["@id"] == "./")
    profiles = {profile["@id"] for profile in root["conformsTo"]}
    assert "https://w3id.org/ro/wfrun/provenance/0.5" in profiles
    # Ids are URI references: "conditional_x1=1.npz" is "conditional_x1%3D1.npz".
    files = {unquote(entity.id): entity for entity in crate.data_entities}
    recorded = {path.removeprefix("results/")
                for record in map(json.loads, map(Path.read_text,
                                                  (results / "provenance").rglob("*.json")))
                for path in record["outputs"]}
    assert recorded <= files.keys()
    for path in recorded:
        assert files[path]["sha256"] == sha256(results / path)

    # One CreateAction per job, and one for the run of the whole workflow.
    actions = [a for a in crate.get_by_type("CreateAction") if a.id.startswith("#job/")]
    assert len(actions) == len(list((results / "provenance").rglob("*.json")))
    for figure in (results / "figures").glob("*.png"):
        makers = [a for a in actions
                  if any(r.id == f"figures/{figure.name}" for r in a["result"])]
        assert len(makers) == 1, figure.name
        action = makers[0]
        # a part of a figure (vae_grids-small) is drawn by its figure's module
        module = figure.stem.split("-")[0]
        assert action["instrument"].id == f"#code/src/prml_pipeline/figures/{module}.py"
        assert action["startTime"] <= action["endTime"]
        assert {s["name"] for s in action["softwareUsed"]} >= {"python", "snakemake", "numpy"}
    training = next(a for a in actions if a.id == "#job/train_vae/model=small, seed=42")
    assert {o.id for o in training["object"]} >= {"data/train.npz", "data/test.npz"}
    assert "vae/small/seed42/weights.pt" in {r.id for r in training["result"]}


@pytest.mark.slow
def test_crate_of_a_run_follows_the_provenance_run_crate_profile(tiny_run):
    results = tiny_run[0] / "results"
    crate = check_provenance_run_crate(results)
    run = next(a for a in crate.get_by_type("CreateAction") if a.id == "#run")
    assert {"report/report.pdf", "report/report.html"} <= ids(run["result"])
    # The tiny run uses --directory: code is named relative to the workflow's folder anyway.
    assert "#code/src/prml_pipeline/sheet/data.py" in ids(run["object"])
    assert not any(".." in entity.id for entity in as_list(run["object"]))
    assert crate.get("#step/figure")["workExample"]
    vae = crate.get("#step/train_vae")
    assert vae["workExample"].id == "#code/scripts/train_vae.py"


# A tiny workspace by hand: two downloads, a parse, two figures and a report reading them.
def _record(rule: str, wildcards: dict[str, str], script: str, inputs: dict[str, str],
            outputs: dict[str, str], start: str, end: str, **extra: str) -> dict:
    return {
        "schema": 1, "rule": rule, "wildcards": wildcards,
        "script": {"path": script, "git_blob": "0" * 40},
        "code": {"commit": "c" * 40, "dirty": False}, "params": {},
        "config_subset_sha256": "f" * 64, "seeds": {}, "inputs": inputs, "outputs": outputs,
        "software": {"python": "3.11.7", "snakemake": "9.1.0", "numpy": "2.0.0"},
        "machine": {"host": "box", "cpu": "cpu", "threads": 1},
        "time": {"start": f"2025-01-01T00:{start}+00:00", "end": f"2025-01-01T00:{end}+00:00",
                 "wall_seconds": 1.0},
        "extra": extra,
    }


def _workspace(root: Path) -> Path:
    """A workflow directory with code and a results/ folder of artifacts and their records."""
    def write(relative: str, content: str) -> str:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return sha256(path)

    code = {"src/prml_pipeline/data.py": write("src/prml_pipeline/data.py", "data")}
    for name in ("download", "parse_split", "report", "figures/one", "figures/two"):
        write(f"scripts/{name}.py", name)
    raw = {f"results/data/raw/{part}.gz": write(f"results/data/raw/{part}.gz", part)
           for part in ("images", "labels")}
    parsed = {"results/data/train.npz": write("results/data/train.npz", "train")}
    figures = {name: {f"results/figures/{name}.png": write(f"results/figures/{name}.png", name)}
               for name in ("one", "two")}
    records = {f"download/{part}": _record(
        "download", {"part": part}, "scripts/download.py", code,
        {f"results/data/raw/{part}.gz": raw[f"results/data/raw/{part}.gz"]}, "00:00", "00:01",
        source=f"mirror http://mirror.example/{part}.gz") for part in ("images", "labels")}
    records["parse_split/train"] = _record(
        "parse_split", {"split": "train"}, "scripts/parse_split.py", {**raw, **code}, parsed,
        "00:02", "00:03")
    for index, name in enumerate(("one", "two")):
        script = f"scripts/figures/{name}.py"
        records[f"figure/{name}"] = _record(
            "figure", {"name": name}, script, {**parsed, script: sha256(root / script)},
            figures[name], f"00:0{4 + index}", f"00:0{5 + index}")
    for key, record in records.items():
        write(f"results/provenance/{key}.json", json.dumps(record))
    report_inputs = {**figures["one"], **figures["two"],
                     "results/provenance/figure/one.json":
                         sha256(root / "results/provenance/figure/one.json")}
    records["report_values/report_values"] = _record(
        "report_values", {}, "scripts/report.py", report_inputs,
        {"results/report/report.html": write("results/report/report.html", "<html/>")},
        "00:07", "00:09")
    write("results/provenance/report_values/report_values.json",
          json.dumps(records["report_values/report_values"]))
    for left_out in ("logs/figure/one.log", "benchmarks/figure/one.tsv", "checkpoints/x.pt"):
        write(f"results/{left_out}", "not in the crate")
    return root / "results"


def test_crate_from_hand_made_records_follows_the_profile(tmp_path, monkeypatch):
    results = _workspace(tmp_path / "workflow")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # ids come from the results folder, not the current one
    write_crate(results)
    crate = check_provenance_run_crate(results)

    run = crate.get("#run")
    assert ids(run["object"]) == {
        "#code/src/prml_pipeline/data.py", "#code/scripts/figures/one.py",
        "#code/scripts/figures/two.py", "http://mirror.example/images.gz",
        "http://mirror.example/labels.gz"}
    assert ids(run["result"]) == {"report/report.html"}
    assert crate.get("#organize")["instrument"]["version"] == "9.1.0"
    parse = crate.get("#job/parse_split/split=train")
    assert ids(parse["object"]) >= {"data/raw/images.gz", "data/raw/labels.gz"}
    assert ids(parse["result"]) == {"data/train.npz", "provenance/parse_split/train.json"}
    figure_step = crate.get("#step/figure")
    assert ids(figure_step["workExample"]) == {"#code/scripts/figures/one.py",
                                               "#code/scripts/figures/two.py"}
    assert crate.get("#step/download")["workExample"].id == "#code/scripts/download.py"
    record = crate.get("provenance/figure/one.json")
    assert record["about"].id == "#job/figure/name=one"
    report = crate.get("#job/report_values/report_values")
    assert "provenance/figure/one.json" in ids(report["object"])


def test_crate_command_line_resolves_paths_from_the_workflow_directory(tmp_path, monkeypatch,
                                                                        capsys):
    results = _workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["crate", "results/"]) == 0
    assert "ro-crate-metadata.json" in capsys.readouterr().out
    check_provenance_run_crate(results)
    monkeypatch.chdir(results)  # and from inside results/ itself
    assert main(["crate", "."]) == 0
    crate = check_provenance_run_crate(results)
    assert crate.get("data/train.npz")["sha256"] == sha256(results / "data/train.npz")


def test_crate_command_refuses_a_folder_without_records(tmp_path, capsys):
    assert main(["crate", str(tmp_path)]) == 2
    assert "provenance not found" in capsys.readouterr().err
