"""The HTML report as a reader sees it, in a real browser (Debian's chromium, headless), and
the report built with pandoc 3 as well as the system's pandoc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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
  return {
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
    assert result["images"] == 7 and result["broken"] == [] and result["shrunk"] == []
    assert result["maths"] > 100 and result["emptyMath"] == 0
    # The lettered and numbered lists of the derivations show (a) and (iii), as cited.
    assert result["items"] >= 10 and result["unlabelled"] == 0
    assert sorted(result["labels"]) == ['"(" counter(list-item, lower-alpha) ") "',
                                        '"(" counter(list-item, lower-roman) ") "']
    assert result["mathFont"].startswith('"Latin Modern Math"')
    assert result["mathFontLoaded"]


@pytest.mark.parametrize("width", [1280, 390])
def test_html_report_fits_the_window_and_draws_every_figure_and_formula(tiny_run, width):
    report = tiny_run[0] / "results/report/report.html"
    assert_reads_well(look_at(report, width, f"report-{width}px.png"), width)


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
