"""`compare` checks, never trusts: it hashes both folders' files itself and marks every file
(values.json included) whose record does not vouch for its bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from prml_pipeline.runs.cli import main
from prml_pipeline.runs.compare import compare, markdown

FIGURE = b"\x89PNG figure bytes"
VALUES = {"vae": {"large": {"neg_elbo": 172.08}}}


def results(root: Path) -> Path:
    """A results folder with a figure and values.json, each with its record."""
    files = {"figures/f.png": FIGURE, "report/values.json": json.dumps(VALUES).encode()}
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    for rule, path in (("figure", "figures/f.png"), ("report_values", "report/values.json")):
        record = root / "provenance" / rule / f"{rule}.json"
        record.parent.mkdir(parents=True)
        record.write_text(json.dumps({
            "rule": rule, "wildcards": {}, "params": {"cfg": {}}, "inputs": {},
            "outputs": {f"results/{path}": hashlib.sha256(files[path]).hexdigest()}}))
    return root


@pytest.fixture
def folders(tmp_path):
    return results(tmp_path / "a"), results(tmp_path / "b")


def test_identical_folders_show_nothing(folders):
    result = compare(*folders)
    assert result.artifacts == [] and result.unverified == [] and result.numbers == []


def test_a_flipped_figure_byte_shows_as_changed_bytes_and_as_unvouched(folders):
    a, b = folders
    figure = b / "figures/f.png"
    data = bytearray(figure.read_bytes())
    data[5] ^= 0x01
    figure.write_bytes(bytes(data))
    result = compare(a, b)
    assert [path for path, _ in result.artifacts] == ["figures/f.png"]
    assert result.figures == ["figures/f.png"]
    assert result.unverified == [(str(b), "figures/f.png", "does not match its record: changed "
                                  "after rule figure wrote it")]
    text = markdown(result, a, b)
    assert "## Artifacts whose bytes changed (1)" in text
    assert f"- `{b}/figures/f.png`: does not match its record" in text


def test_a_hand_edited_number_is_marked_as_not_vouched_for(folders):
    a, b = folders
    (b / "report/values.json").write_text(json.dumps({"vae": {"large": {"neg_elbo": 150.08}}}))
    result = compare(a, b)
    assert result.numbers == [("vae.large.neg_elbo", 172.08, 150.08)]
    assert (str(b), "report/values.json",
            "does not match its record: changed after rule report_values wrote it"
            ) in result.unverified
    assert (f"## Files their records do not vouch for (1): the report numbers of {b} are not "
            "vouched for") in markdown(result, a, b)


def test_a_file_no_record_vouches_for_is_marked(folders):
    a, b = folders
    (b / "figures/extra.png").write_bytes(b"extra")
    result = compare(a, b)
    assert (str(b), "figures/extra.png", "no record vouches for it") in result.unverified
    assert ("figures/extra.png", f"only in {b}") in result.artifacts


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "holds a JSON list, not the report's values"),
    ("{", "cannot be read as JSON"),
])
def test_values_that_are_not_an_object_are_one_line(folders, tmp_path, capsys, content, message):
    a, b = folders
    (b / "report/values.json").write_text(content)
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "c.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"prml compare: {b}/report/values.json {message}")
    assert "--forcerun report_values" in err and err.count("\n") == 1
