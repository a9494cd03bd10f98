"""The crate of a real run passes the Provenance Run Crate profile of `rocrate-validator`,
offline: the JSON-LD context comes from the rocrate package, never from the network."""

from __future__ import annotations

import socket

import pytest
from helpers import copy_run

from prml_pipeline.runs.cli import main
from prml_pipeline.runs.crate import write_crate
from prml_pipeline.runs.crate_check import check_crate

# The RECOMMENDED checks the default settings leave failing, and why: the workflow's code is
# in the crate, so its ids are paths, not web addresses; no home page of the workflow and no
# web address of its authors are known until `metadata.url` and the authors' `url` say them.
BY_DESIGN = {"SoftwareApplication id"}
UNTIL_CONFIGURED = {"Application url", "Organization: RECOMMENDED url property"}


@pytest.fixture
def offline(monkeypatch):
    """No connection leaves the machine (the test mirror on 127.0.0.1 is not needed here)."""
    def refuse(self, address):
        raise OSError(f"the crate check tried to reach {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def failed_checks(issues, severity):
    return {issue.check for issue in issues if issue.severity == severity}


@pytest.mark.slow
def test_the_crate_of_a_run_passes_the_profile_offline(tiny_run, offline):
    issues = check_crate(tiny_run[0] / "results")
    assert failed_checks(issues, "REQUIRED") == set()
    assert failed_checks(issues, "RECOMMENDED") <= BY_DESIGN | UNTIL_CONFIGURED
    assert {issue.severity for issue in issues} <= {"RECOMMENDED"}


@pytest.mark.slow
def test_with_urls_configured_only_the_in_crate_ids_remain(tiny_run, offline):
    workdir, _, _ = copy_run(tiny_run, "crate_with_urls")
    results = workdir / "results"
    write_crate(results, metadata={
        "authors": [{"name": "Ada Lovelace", "id": "https://orcid.org/0000-0002-1825-0097",
                     "affiliation": {"name": "Analytical Engines", "type": "Organization",
                                     "url": "https://engines.example/"}}],
        "publisher": {"name": "Analytical Engines", "type": "Organization",
                      "url": "https://engines.example/"},
        "license": "MIT", "url": "https://code.example/prml-pipeline"})
    issues = check_crate(results)
    assert failed_checks(issues, "REQUIRED") == set()
    assert failed_checks(issues, "RECOMMENDED") == BY_DESIGN


@pytest.mark.slow
def test_the_check_finds_what_the_profile_requires(tiny_run, offline):
    """Not a check that passes anything: a crate that names no licence fails it."""
    workdir, _, _ = copy_run(tiny_run, "crate_without_licence")
    results = workdir / "results"
    write_crate(results, metadata={"authors": [{"name": "Ada Lovelace"}]})
    required = failed_checks(check_crate(results), "REQUIRED")
    assert {"Root Data Entity: `license` property", "Crate license"} <= required


@pytest.mark.slow
def test_prml_crate_check_rewrites_and_validates(tiny_run, offline, capsys):
    workdir, _, _ = copy_run(tiny_run, "crate_command")
    assert main(["crate", str(workdir / "results"), "--check"]) == 0
    out = capsys.readouterr().out
    assert "provenance-run-crate-0.5: 0 REQUIRED" in out
    assert "SoftwareApplication id" in out
