"""The offline check of a crate: the JSON-LD context comes from the rocrate package."""

from __future__ import annotations

import json
import socket

import pytest
from requests_cache import CachedSession

from prml_pipeline.runs import crate_check
from prml_pipeline.runs.crate_check import Issue, bundled_context, seed_cache, summary

CONTEXT = "https://w3id.org/ro/crate/1.3/context"


def test_the_bundled_context_is_the_one_the_crate_names():
    context = json.loads(bundled_context(CONTEXT))
    assert context["@id"] == CONTEXT
    assert context["@context"]["ComputationalWorkflow"] == (
        "https://bioschemas.org/terms/ComputationalWorkflow")
    with pytest.raises(SystemExit, match="ships https://w3id.org/ro/crate/1.3/context"):
        bundled_context("https://w3id.org/ro/crate/1.1/context")


def test_a_seeded_cache_answers_offline(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the check must not reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    seed_cache(tmp_path / "cache", {CONTEXT: bundled_context(CONTEXT)})
    session = CachedSession(cache_name=str(tmp_path / "cache"), backend="sqlite")
    session.settings.only_if_cached = True  # as the validator's offline mode reads it
    response = session.get(CONTEXT, headers={"Accept": "application/ld+json"})
    assert response.status_code == 200 and response.from_cache
    assert response.json()["@id"] == CONTEXT
    assert session.get("https://w3id.org/ro/crate/1.1/context").status_code == 504  # a miss


def test_the_summary_gives_one_line_per_failed_check_worst_first():
    issues = [Issue("RECOMMENDED", "Application url", "SHOULD have a url", "./code/a.py"),
              Issue("REQUIRED", "Crate license", "must specify a license", "./"),
              Issue("RECOMMENDED", "Application url", "SHOULD have a url", "./code/b.py")]
    assert summary(issues) == [
        "REQUIRED: Crate license (1x, e.g. ./): must specify a license",
        "RECOMMENDED: Application url (2x, e.g. ./code/a.py): SHOULD have a url"]


@pytest.mark.parametrize("context", [[CONTEXT, "https://other.example/context"],
                                     [{"x": "http://x/"}], {"x": "http://x/"}])
def test_a_crate_without_one_context_url_is_refused(tmp_path, context):
    """One URL, alone or with terms the crate adds (resourceUsage), is what the check can
    supply offline; two URLs or none are refused."""
    (tmp_path / "ro-crate-metadata.json").write_text(json.dumps(
        {"@context": context, "@graph": []}))
    with pytest.raises(SystemExit, match="names no single context URL"):
        crate_check.check_crate(tmp_path)
