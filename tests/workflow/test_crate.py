"""The provenance records of a real run as a Provenance Run Crate that other tools load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from helpers import check_provenance_run_crate, ids
from rocrate.rocrate import ROCrate


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
        assert action["instrument"].id == f"code/src/prml_pipeline/figures/{module}.py"
        assert action["startTime"] <= action["endTime"]
        used = action["instrument"]["softwareRequirements"]
        assert {s["name"] for s in used} >= {"python", "numpy"}
    training = next(a for a in actions if a.id == "#job/train_vae/model=small,seed=42")
    assert {o.id for o in training["object"]} >= {"data/train.npz", "data/test.npz"}
    assert "vae/small/seed42/weights.pt" in {r.id for r in training["result"]}


@pytest.mark.slow
def test_crate_of_a_run_follows_the_provenance_run_crate_profile(tiny_run):
    results = tiny_run[0] / "results"
    crate = check_provenance_run_crate(results)
    run = next(a for a in crate.get_by_type("CreateAction") if a.id == "#run")
    assert {"report/report.pdf", "report/report.html"} <= ids(run["result"])
    # The tiny run uses --directory: code is named relative to the workflow's folder anyway.
    assert "code/src/prml_pipeline/sheet/data.py" in ids(run["object"])
    assert not any(".." in entity.id for entity in run["object"])
    assert crate.get("#step/figure")["workExample"]
    vae = crate.get("#step/train_vae")
    assert vae["workExample"].id == "code/scripts/train_vae.py"
