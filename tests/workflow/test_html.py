"""The HTML report as a reader sees it, in a real browser (Debian's chromium, headless), and
the report built with pandoc 3 as well as the system's pandoc."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import REPO, copy_run, snakemake

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Screenshots stay here for a person (or CI) to look at.
ARTIFACTS = Path(os.environ.get("PRML_TEST_ARTIFACTS", REPO / ".test-artifacts"))

# Elements wider than the window that no scrolling box holds, images that failed to decode,
# and MathML laid out with zero size.
CHECK = """async () => {
  await document.fonts.ready;
  const width = window.innerWidth;
  // Only a box the reader can scroll counts: clipped (overflow: hidden) content is lost.
  const scrolls = el => {
    for (let a = el.parentElement; a; a = a.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return true;
    }
    return false;
  };
  const overflowing = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1 && !scrolls(el)) {
      overflowing.push(el.tagName + ' ' + (el.textContent || '').slice(0, 40));
    }
  }
  const images = [...document.images];
  const maths = [...document.querySelectorAll('math')];
  const items = [...document.querySelectorAll('ol > li')];
  // A word (a run of non-space characters) of a table cell laid out on more than one line.
  const brokenWords = [];
  for (const cell of document.querySelectorAll('td, th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT, {
      acceptNode: n => n.parentElement.closest('math') ? NodeFilter.FILTER_REJECT
                                                        : NodeFilter.FILTER_ACCEPT});
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                .map(r => Math.round(r.top)));
        if (lines.size > 1) brokenWords.push(match[0]);
      }
    }
  }
  // Every figure and table is the target of at least one link in the text.
  const targets = new Set([...document.querySelectorAll('a[href^="#"]')]
                          .map(a => decodeURIComponent(a.getAttribute('href').slice(1))));
  const figures = [...document.querySelectorAll('figure')].map(f =>
    f.id || (f.querySelector('[id]') || {}).id || '(no id)');
  const tables = [...document.querySelectorAll('table')].map(t => t.id || '(no id)');
  // Plots are vector: each figure an SVG (an embedded image or inline).
  const raster = [...document.querySelectorAll('figure')].filter(f => !f.querySelector('svg')
    && !(f.querySelector('img') || {src: ''}).src.startsWith('data:image/svg+xml')).length;
  // Numbers in tables print a true minus sign, never a hyphen.
  const hyphenMinus = [...document.querySelectorAll('td')].map(td => td.innerText)
    .filter(text => /(^|[\\s(,\\[])-\\d/.test(text));
  // The running text: no contents, tables, code or bibliography.
  const prose = document.body.cloneNode(true);
  prose.querySelectorAll('nav, table, pre, #refs, script, style, annotation')
    .forEach(e => e.remove());
  return {
    prose: prose.innerText,
    brokenWords: brokenWords.slice(0, 10),
    uncited: [...figures, ...tables].filter(id => !targets.has(id)),
    figures: figures.length, tables: tables.length, raster,
    hyphenMinus: hyphenMinus.slice(0, 5),
    references: document.querySelectorAll('#refs .csl-entry').length,
    citationLinks: document.querySelectorAll('a[href^="#ref-"]').length,
    toc: getComputedStyle(document.querySelector('nav#TOC')).position,
    pageWidth: document.documentElement.scrollWidth, width,
    overflowing: overflowing.slice(0, 5),
    images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
    // Figures are drawn at printed size: shown at their own width, or the column's if wider.
    shrunk: images.filter(i => i.getBoundingClientRect().width + 1 < Math.min(
      i.naturalWidth, i.parentElement.getBoundingClientRect().width)).map(i => i.alt),
    maths: maths.length,
    emptyMath: maths.filter(m => { const b = m.getBoundingClientRect();
                                   return b.width === 0 || b.height === 0; }).length,
    // A scrolling box paints no marker outside itself: an item's label must sit inside.
    items: items.length,
    unlabelled: items.filter(li => getComputedStyle(li).listStylePosition === 'outside'
                             && getComputedStyle(li).overflowX !== 'visible').length,
    labels: [...new Set(items.map(li => getComputedStyle(li, '::marker').content))],
    mathFont: getComputedStyle(maths[0]).fontFamily,
    // Display math is set at full size, in aligned environments too (no script-size fractions).
    fullSizeFractions: [...document.querySelectorAll('math[display="block"] mtd')]
      .every(cell => getComputedStyle(cell).mathStyle === 'normal'),
    mathFontLoaded: document.fonts.check('16px "Latin Modern Math"'),
  };
}"""


def require(available: object, reason: str) -> None:
    """Skip a test whose tool is missing, except in CI, where `.ci/run` installs it."""
    if not available:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must run this test")
        pytest.skip(reason)


def look_at(report: Path, width: int, screenshot: str) -> dict:
    """Open `report` in headless chromium at `width` px, keep a full-page screenshot, and
    return what CHECK measured."""
    require(CHROMIUM, "needs Debian's chromium (make setup installs it)")
    try:
        from playwright import sync_api as playwright
    except ImportError:
        playwright = None
    require(playwright, "needs playwright (the dev extra)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        result = page.evaluate(CHECK)
        page.screenshot(path=ARTIFACTS / screenshot, full_page=True)
        browser.close()
    print(f"screenshot: {ARTIFACTS / screenshot}")
    return result


def assert_reads_well(result: dict, width: int) -> None:
    assert result["pageWidth"] <= width, result["overflowing"]
    assert result["overflowing"] == []
    # Figures 1, 3 to 6, 7a to 7c, 8a and 8b, all vector graphics
    assert result["figures"] == 10 and result["raster"] == 0
    assert result["broken"] == [] and result["shrunk"] == []
    assert result["brokenWords"] == []
    assert result["uncited"] == [] and result["tables"] == 7
    assert result["hyphenMinus"] == []
    assert result["references"] >= 4 and result["citationLinks"] >= 5
    # the contents beside the text on a wide screen, above it on a phone
    assert result["toc"] == ("fixed" if width >= 1120 else "static")
    assert result["maths"] > 100 and result["emptyMath"] == 0
    # The lettered and numbered lists of the derivations show (a) and (iii), as cited.
    assert result["items"] >= 10 and result["unlabelled"] == 0
    assert sorted(result["labels"]) == ['"(" counter(list-item, lower-alpha) ") "',
                                        '"(" counter(list-item, lower-roman) ") "']
    assert result["mathFont"].startswith('"Latin Modern Math"')
    assert result["fullSizeFractions"]
    assert result["mathFontLoaded"]


@pytest.mark.parametrize("width", [1280, 390])
def test_html_report_fits_the_window_and_draws_every_figure_and_formula(tiny_run, width):
    report = tiny_run[0] / "results/report/report.html"
    result = look_at(report, width, f"report-{width}px.png")
    assert_reads_well(result, width)
    if width == 1280:
        assert_no_sentence_repeats(result["prose"])


def sentences(text: str) -> list[str]:
    """The sentences of running text: split after . ! ? before a capital, a digit or a
    bracket; short pieces (list labels, "blocked.") are not sentences."""
    pieces = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])", " ".join(text.split()))
    return [piece for piece in pieces if len(piece) >= 30]


def assert_no_sentence_repeats(text: str) -> None:
    found = sentences(text)
    assert len(found) > 150
    starts = Counter(sentence[:60] for sentence in found)
    assert [start for start, count in starts.items() if count > 1] == []


def test_the_repetition_check_finds_a_repeated_frame():
    frame = ("With a single seed per model there is no seed-to-seed spread to judge it by, so "
             "whether the {} beats the {} stays open.")
    text = "First sentence of the text here. " + frame.format("A", "B") + " " + frame.format(
        "C", "D")
    with pytest.raises(AssertionError):
        assert_no_sentence_repeats(text * 60)
    assert len(sentences(text)) == 3


def test_the_pdf_carries_the_source_date_and_a_title_block(tiny_run):
    report = tiny_run[0] / "results/report"
    info = subprocess.run(["pdfinfo", str(report / "report.pdf")], capture_output=True,
                          text=True, check=True).stdout
    created = re.search(r"CreationDate:\s+(.*)", info).group(1)
    epoch = json.loads((report / "values.json").read_text())["meta"]["epoch"]
    year = datetime.fromtimestamp(epoch, UTC).year
    assert "1970" not in created and str(year) in created, created
    text = subprocess.run(["pdftotext", str(report / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    first_page = text.split("\f")[0]
    assert "Abstract" in first_page and "The prml-pipeline authors" in first_page
    # every cross-reference resolved, in tables' captions too; the references listed
    assert re.findall(r"@(?:fig|tab|eq|sec):\S+", text) == []
    assert "Importance Weighted Autoencoders" in text and "References" in text


def pandoc3() -> str | None:
    try:
        import pypandoc
        path = pypandoc.get_pandoc_path()
    except (ImportError, OSError):
        return None
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return path if version.startswith("pandoc 3") else None


def test_the_report_builds_with_pandoc_3(tiny_run, tmp_path, monkeypatch):
    pandoc = pandoc3()
    require(pandoc, "needs pypandoc-binary's pandoc 3 (the dev extra)")
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    monkeypatch.setenv("PANDOC", pandoc)
    snakemake(workdir, "--cores", "2", "--forcerun", "report_html", "report_pdf",
              snakefile=snakefile, configfiles=configs)
    for fmt in ("html", "pdf"):
        record = json.loads((workdir / f"results/provenance/report_{fmt}/report_{fmt}.json")
                            .read_text())
        assert record["extra"]["pandoc"]["version"].startswith("3.")
    text = subprocess.run(["pdftotext", str(workdir / "results/report/report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "21.25%" in text and "Provenance" in text
    html = (workdir / "results/report/report.html").read_text()
    assert "<math" in html and "data:font/otf;base64," in html
    report = workdir / "results/report/report.html"
    assert_reads_well(look_at(report, 1280, "report-pandoc3-1280px.png"), 1280)
