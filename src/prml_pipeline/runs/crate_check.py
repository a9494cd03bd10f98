"""Check a results crate against the Provenance Run Crate profile, offline.

    prml crate [results/] --check

runs `rocrate-validator` (PyPI `roc-validator`) with profile `provenance-run-crate-0.5` on
results/ro-crate-metadata.json. The validator fetches the crate's JSON-LD context from its
URL; here it comes from the copy the `rocrate` package ships (rocrate/data/ro-crate.jsonld,
whose `@id` must be the URL the crate names), placed in a private HTTP cache that the
validator reads in its offline mode, so no network is used and nothing is skipped.

`rocrate-validator validate -p provenance-run-crate-0.5 results` is the same check for a
machine that can reach https://w3id.org.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import requests
import urllib3

from prml_pipeline.runs.crate import METADATA

PROFILE = "provenance-run-crate-0.5"
REMEDY = "pip install roc-validator==0.13.0 (it is among the dev extras: pip install -e '.[dev]')"


@dataclass(frozen=True)
class Issue:
    severity: str  # REQUIRED, RECOMMENDED or OPTIONAL
    check: str
    message: str
    entity: str | None

    def __str__(self) -> str:
        return f"{self.severity}: {self.check}: {self.message}" + (
            f" ({self.entity})" if self.entity else "")


def bundled_context(url: str) -> bytes:
    """The RO-Crate JSON-LD context the `rocrate` package ships, which must be `url`'s."""
    text = (files("rocrate") / "data" / "ro-crate.jsonld").read_bytes()
    found = json.loads(text).get("@id")
    if found != url:
        raise SystemExit(f"crate check: the crate's context is {url}, the rocrate package "
                         f"ships {found}: rewrite the crate with `prml crate`")
    return text


class _Documents(requests.adapters.BaseAdapter):
    """A transport that answers from a dict of URL to bytes (404 for any other URL)."""

    def __init__(self, documents: dict[str, bytes]):
        super().__init__()
        self.documents = documents

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        body = self.documents.get(str(request.url))
        response = requests.Response()
        response.status_code = 200 if body is not None else 404
        response.url, response.request, response.encoding = str(request.url), request, "utf-8"
        response.headers["Content-Type"] = "application/ld+json"
        response.raw = urllib3.HTTPResponse(body=io.BytesIO(body or b""), preload_content=False,
                                            status=response.status_code,
                                            request_url=str(request.url))
        return response

    def close(self) -> None:
        pass


def seed_cache(cache: Path, documents: dict[str, bytes]) -> None:
    """Store each document as the validator's HTTP cache (requests-cache, SQLite) would after
    fetching it, never to expire."""
    from requests_cache import CachedSession

    session = CachedSession(cache_name=str(cache), backend="sqlite", expire_after=-1,
                            allowable_methods=("GET",), allowable_codes=(200,))
    session.mount("https://", _Documents(documents))
    session.mount("http://", _Documents(documents))
    try:
        for url in documents:
            session.get(url).raise_for_status()
    finally:
        session.close()


def check_crate(results: Path, severity: str = "RECOMMENDED") -> list[Issue]:
    """Every issue of `severity` or worse that the validator finds in the crate, offline."""
    try:
        from rocrate_validator import models, services
    except ImportError:
        raise SystemExit(f"crate check: rocrate_validator is not installed: {REMEDY}") from None
    results = Path(results)
    context = json.loads((results / METADATA).read_text()).get("@context")
    # The RO-Crate context's URL, alone or first of a list that adds terms (resourceUsage).
    urls = [context] if isinstance(context, str) else [
        item for item in context if isinstance(item, str)] if isinstance(context, list) else []
    if len(urls) != 1:
        raise SystemExit(f"crate check: {results / METADATA} names no single context URL; "
                         "rewrite it with `prml crate`")
    with tempfile.TemporaryDirectory(prefix="crate-check-") as scratch:
        cache = Path(scratch) / "http-cache"
        seed_cache(cache, {urls[0]: bundled_context(urls[0])})
        settings = models.ValidationSettings(
            rocrate_uri=str(results.resolve()), profile_identifier=PROFILE,
            requirement_severity=models.Severity[severity], offline=True, cache_path=cache)
        result = services.validate(settings)
    return [Issue(issue.severity.name, issue.check.name, issue.message,
                  issue.violatingEntity) for issue in result.get_issues()]



def summary(issues: list[Issue]) -> list[str]:
    """One line per failed check, worst first: severity, check, how many entities, an example
    and the validator's message."""
    groups: dict[tuple[str, str], list[Issue]] = {}
    for issue in issues:
        groups.setdefault((issue.severity, issue.check), []).append(issue)
    order = {"REQUIRED": 0, "RECOMMENDED": 1}
    return [f"{severity}: {check} ({len(found)}x, e.g. {found[0].entity}): {found[0].message}"
            for (severity, check), found in sorted(
                groups.items(), key=lambda item: (order.get(item[0][0], 2), item[0][1]))]
