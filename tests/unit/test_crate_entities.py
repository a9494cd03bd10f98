"""The RO-Crate of a results folder, from hand-made records: what it holds and names."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml
from helpers import as_list, check_provenance_run_crate, ids

from prml_pipeline.runs import crate as crate_module
from prml_pipeline.runs.cli import main
from prml_pipeline.runs.crate import media_type, write_crate


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(path: Path, content: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return sha256(path)


# A tiny workspace by hand: two downloads, a parse, two figures and a report reading them.
def _record(rule: str, wildcards: dict[str, str], script: str, inputs: dict[str, str],
            outputs: dict[str, str], start: str, end: str, **extra: str) -> dict:
    return {
        "schema": 1, "rule": rule, "wildcards": wildcards,
        "script": {"path": script, "git_blob": "0" * 40},
        "code": {"commit": "c" * 40, "dirty": False}, "params": {},
        "config_subset_sha256": "f" * 64, "seeds": {}, "inputs": inputs, "outputs": outputs,
        "software": {"python": "3.11.7", "snakemake": "9.1.0", "numpy": "2.0.0",
                     "torch": "2.13.0+cpu"},
        "machine": {"host": "box", "cpu": "cpu", "threads": 1},
        "time": {"start": f"2025-01-01T00:{start}+00:00", "end": f"2025-01-01T00:{end}+00:00",
                 "wall_seconds": 1.0},
        "extra": extra,
    }


METADATA = {
    "authors": [{"name": "Ada Lovelace", "type": "Person",
                 "id": "https://orcid.org/0000-0002-1825-0097",
                 "affiliation": {"name": "Analytical Engines", "type": "Organization",
                                 "url": "https://engines.example/"}}],
    "publisher": {"name": "Analytical Engines", "type": "Organization",
                  "url": "https://engines.example/"},
    "license": "Apache-2.0",
    "url": "https://code.example/prml-pipeline",
}


def _workflow(root: Path) -> None:
    """The workflow's own files: definition, scripts, a package module, config, licence."""
    write(root / "Snakefile", 'include: "workflow/Snakefile"\n')
    write(root / "workflow/Snakefile", "rule all:\n    input: []\n")
    write(root / "workflow/rules/data.smk", "rule download:\n    output: 'x'\n")
    write(root / "src/prml_pipeline/sheet/data.py", "data")
    for name in ("download", "parse_split", "report", "figures/one", "figures/two"):
        write(root / f"scripts/{name}.py", name)
    write(root / "config/config.yaml", yaml.safe_dump({"metadata": METADATA}))
    write(root / "pyproject.toml", '[project]\nname = "prml-pipeline"\nversion = "0.3.0"\n')
    write(root / "LICENSE", "Apache License 2.0")


def _workspace(root: Path, workflow: Path | None = None) -> Path:
    """A results/ folder of artifacts and their records under `root`, made by the workflow in
    `workflow` (by default `root` itself); paths in records are relative to `root`."""
    workflow = workflow or root
    _workflow(workflow)
    prefix = os.path.relpath(workflow, root)
    prefix = "" if prefix == "." else prefix + "/"
    code = {f"{prefix}src/prml_pipeline/sheet/data.py":
            sha256(workflow / "src/prml_pipeline/sheet/data.py")}
    raw = {f"results/data/raw/{part}.gz": write(root / f"results/data/raw/{part}.gz", part)
           for part in ("images", "labels")}
    parsed = {"results/data/train.npz": write(root / "results/data/train.npz", "train")}
    figures = {name: {f"results/figures/{name}.png":
                      write(root / f"results/figures/{name}.png", name)}
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
            "figure", {"name": name, "size": "small"}, script,
            {**parsed, prefix + script: sha256(workflow / script)},
            figures[name], f"00:0{4 + index}", f"00:0{5 + index}")
    for key, record in records.items():
        write(root / f"results/provenance/{key}.json", json.dumps(record))
    report_inputs = {**figures["one"], **figures["two"],
                     "results/provenance/figure/one.json":
                         sha256(root / "results/provenance/figure/one.json")}
    report = _record(
        "report_values", {}, "scripts/report.py", report_inputs,
        {"results/report/report.html": write(root / "results/report/report.html", "<html/>")},
        "00:07", "00:09")
    write(root / "results/provenance/report_values/report_values.json", json.dumps(report))
    for left_out in ("logs/figure/one.log", "benchmarks/figure/one.tsv", "checkpoints/x.pt"):
        write(root / f"results/{left_out}", "not in the crate")
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
        "code/src/prml_pipeline/sheet/data.py", "code/scripts/figures/one.py",
        "code/scripts/figures/two.py", "http://mirror.example/images.gz",
        "http://mirror.example/labels.gz"}
    assert ids(run["result"]) == {"report/report.html"}
    assert crate.get("#organize")["instrument"]["version"] == "9.1.0"
    parse = crate.get("#job/parse_split/split=train")
    assert ids(parse["object"]) >= {"data/raw/images.gz", "data/raw/labels.gz"}
    assert ids(parse["result"]) == {"data/train.npz", "provenance/parse_split/train.json"}
    figure_step = crate.get("#step/figure")
    assert ids(figure_step["workExample"]) == {"code/scripts/figures/one.py",
                                               "code/scripts/figures/two.py"}
    assert crate.get("#step/download")["workExample"].id == "code/scripts/download.py"
    record = crate.get("provenance/figure/one.json")
    assert record["about"].id == "#job/figure/name=one,size=small"
    report = crate.get("#job/report_values/report_values")
    assert "provenance/figure/one.json" in ids(report["object"])


def test_the_workflow_is_in_the_crate_as_its_main_entity(tmp_path):
    results = _workspace(tmp_path)
    write_crate(results)
    graph = {entity["@id"]: entity for entity in
             json.loads((results / "ro-crate-metadata.json").read_text())["@graph"]}
    # The workflow's files, copied: each one a File with the checksum of its bytes.
    for name in ("Snakefile", "workflow/Snakefile", "workflow/rules/data.smk", "LICENSE",
                 "scripts/download.py", "src/prml_pipeline/sheet/data.py",
                 "config/config.yaml", "pyproject.toml"):
        assert (results / "code" / name).read_bytes() == (tmp_path / name).read_bytes()
        assert graph[f"code/{name}"]["sha256"] == sha256(tmp_path / name)
    workflow = graph["code/workflow/Snakefile"]
    # The 1.3 context's ComputationalWorkflow and the one the profiles (on RO-Crate 1.1) name.
    assert workflow["@type"] == ["File", "SoftwareSourceCode", "ComputationalWorkflow",
                                 "HowTo", "https://bioschemas.org/ComputationalWorkflow"]
    assert workflow["version"] == "0.3.0"
    assert workflow["conformsTo"]["@id"].startswith(
        "https://bioschemas.org/profiles/ComputationalWorkflow/1.0")
    assert graph[workflow["programmingLanguage"]["@id"]]["name"] == "Snakemake"
    assert graph["./"]["mainEntity"] == {"@id": "code/workflow/Snakefile"}
    assert {ref["@id"] for ref in graph["ro-crate-metadata.json"]["conformsTo"]} == {
        "https://w3id.org/ro/crate/1.3", "https://w3id.org/ro/crate/1.1",
        "https://w3id.org/workflowhub/workflow-ro-crate/1.0"}
    readme = graph["README.md"]
    assert readme["about"] == {"@id": "./"} and readme["encodingFormat"] == "text/markdown"
    assert "6 jobs" in (results / "README.md").read_text()
    # A script the jobs ran is a tool with the libraries it ran with, by release page.
    script = graph["code/scripts/download.py"]
    assert "SoftwareApplication" in script["@type"] and script["version"] == "0.3.0"
    assert {ref["@id"] for ref in script["softwareRequirements"]} == {
        "https://www.python.org/downloads/release/python-3117/",
        "https://pypi.org/project/numpy/2.0.0/", "https://pypi.org/project/torch/2.13.0/#cpu"}
    assert graph["https://pypi.org/project/torch/2.13.0/#cpu"]["version"] == "2.13.0+cpu"


def test_authors_publisher_licence_and_home_page_come_from_the_config(tmp_path):
    results = _workspace(tmp_path)
    write_crate(results)  # metadata: the workflow's config/config.yaml
    graph = {entity["@id"]: entity for entity in
             json.loads((results / "ro-crate-metadata.json").read_text())["@graph"]}
    root = graph["./"]
    orcid = "https://orcid.org/0000-0002-1825-0097"
    assert root["author"] == {"@id": orcid}
    assert graph[orcid]["@type"] == "Person" and graph[orcid]["name"] == "Ada Lovelace"
    assert graph[orcid]["affiliation"] == root["publisher"]  # one entity, named twice
    publisher = graph[root["publisher"]["@id"]]
    assert publisher["@type"] == "Organization" and publisher["url"] == "https://engines.example/"
    licence = graph[root["license"]["@id"]]
    assert licence["@id"] == "https://spdx.org/licenses/Apache-2.0"
    assert licence["identifier"] == "Apache-2.0" and licence["@type"] == "CreativeWork"
    workflow = graph["code/workflow/Snakefile"]
    assert workflow["url"] == "https://code.example/prml-pipeline"
    assert workflow["creator"] == {"@id": orcid} and workflow["license"] == root["license"]
    actions = [e for e in graph.values() if e["@type"] in (
        "CreateAction", "ControlAction", "OrganizeAction")]
    assert len(actions) == 1 + 1 + 2 * 6
    assert all(action["agent"] == {"@id": orcid} for action in actions)
    assert all(action["actionStatus"] == "http://schema.org/CompletedActionStatus"
               for action in actions)
    # The run's config over the workflow's defaults: a second author, another licence.
    write_crate(results, tmp_path, {**METADATA, "license": "MIT", "authors": [
        *METADATA["authors"], {"name": "prml-pipeline authors", "type": "Organization"}]})
    graph = {entity["@id"]: entity for entity in
             json.loads((results / "ro-crate-metadata.json").read_text())["@graph"]}
    assert graph["./"]["license"] == {"@id": "https://spdx.org/licenses/MIT"}
    assert graph["./"]["author"] == [{"@id": orcid}, {"@id": "#prml-pipeline-authors"}]
    assert graph["#prml-pipeline-authors"]["@type"] == "Organization"


def test_a_workflow_in_another_folder_is_found_from_the_records(tmp_path, monkeypatch):
    """As under `--directory` or as a module: records name code as ../wf/...; the crate
    copies the workflow from there and names its files by their place in it."""
    results = _workspace(tmp_path / "project", workflow=tmp_path / "wf")
    monkeypatch.chdir(tmp_path)
    assert main(["crate", str(results)]) == 0
    crate = check_provenance_run_crate(results)
    assert "code/src/prml_pipeline/sheet/data.py" in ids(crate.get("#run")["object"])
    assert not any(".." in entity.id for entity in as_list(crate.get("#run")["object"]))
    assert (results / "code/workflow/Snakefile").is_file()


def test_the_crate_is_rewritten_only_when_something_changed(tmp_path):
    results = _workspace(tmp_path)
    write_crate(results)
    written = {name: (results / name).stat().st_mtime_ns
               for name in ("ro-crate-metadata.json", "README.md", "code/workflow/Snakefile")}
    before = (results / "ro-crate-metadata.json").read_bytes()
    crate_module.refresh_crate(results)  # the same records, code and settings: same bytes
    assert (results / "ro-crate-metadata.json").read_bytes() == before
    assert {name: (results / name).stat().st_mtime_ns for name in written} == written
    # An edited module, a deleted rule file: the copy follows the workflow.
    write(tmp_path / "src/prml_pipeline/sheet/data.py", "data, edited")
    (tmp_path / "workflow/rules/data.smk").unlink()
    crate_module.refresh_crate(results)
    assert (results / "code/src/prml_pipeline/sheet/data.py").read_text() == "data, edited"
    assert not (results / "code/workflow/rules/data.smk").exists()
    graph = {entity["@id"]: entity for entity in
             json.loads((results / "ro-crate-metadata.json").read_text())["@graph"]}
    assert graph["code/src/prml_pipeline/sheet/data.py"]["sha256"] == sha256(
        tmp_path / "src/prml_pipeline/sheet/data.py")
    assert "code/workflow/rules/data.smk" not in graph


def test_media_types_name_every_kind_of_file_the_workflow_writes():
    assert [media_type(name) for name in (
        "vae/small/latents.npz", "vae/small/seed42/weights.pt", "data/raw/x.gz",
        "figures/one.png", "report/report.pdf", "report/report.html", "report/report.md",
        "values.json", "workflow/Snakefile", "rules/data.smk", "config.yaml", "LICENSE",
        "x.unknown")] == [
        "application/zip", "application/zip", "application/gzip", "image/png",
        "application/pdf", "text/html", "text/markdown", "application/json", "text/x-python",
        "text/x-python", "application/yaml", "text/plain", "application/octet-stream"]


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


def test_crate_command_takes_the_metadata_of_a_config_file(tmp_path, monkeypatch):
    results = _workspace(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"metadata": {"license": "CC-BY-4.0"}}))
    monkeypatch.chdir(tmp_path)
    assert main(["crate", "results", "--configfile", str(other)]) == 0
    graph = {entity["@id"]: entity for entity in
             json.loads((results / "ro-crate-metadata.json").read_text())["@graph"]}
    assert graph["./"]["license"] == {"@id": "https://spdx.org/licenses/CC-BY-4.0"}
    assert graph["./"]["author"] == {"@id": "https://orcid.org/0000-0002-1825-0097"}


def test_crate_command_refuses_a_folder_without_records(tmp_path, capsys):
    assert main(["crate", str(tmp_path)]) == 2
    assert "provenance not found" in capsys.readouterr().err


def test_crate_command_names_the_remedy_when_no_workflow_is_found(tmp_path, monkeypatch):
    results = _workspace(tmp_path)
    (tmp_path / "workflow" / "Snakefile").unlink()
    monkeypatch.setattr(crate_module, "__file__", str(tmp_path / "a" / "b" / "c" / "crate.py"))
    with pytest.raises(SystemExit, match="--workflow"):
        main(["crate", str(results)])
