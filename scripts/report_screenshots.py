"""Pictures of the built report for the README: one PDF page and the HTML at phone width.

    python scripts/report_screenshots.py [results/report] [docs/images]   (make screenshots)

Writes report-page.png (the PDF page that shows Figure 6, at 100 dpi, from pdftoppm) and
report-phone.png (the HTML's VAE results, from Figure 6 on, in headless chromium, 390 px
wide at twice the pixel density, as a phone shows it). Needs poppler-utils, chromium and
playwright (make setup).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PHONE = {"width": 390, "height": 844}
# What the phone picture shows: the VAE results, from Figure 6 on.
FIGURE = "fig:vae_latents"


def page_showing(pdf: Path, caption: str) -> int:
    """The first page of `pdf` whose text holds `caption` (else page 1)."""
    pages = int(next(line.split()[-1] for line in subprocess.run(
        ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout.splitlines()
        if line.startswith("Pages:")))
    for page in range(1, pages + 1):
        text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        if caption in text:
            return page
    return 1


def pdf_page(pdf: Path, out: Path, caption: str = "Figure 6.") -> None:
    page = page_showing(pdf, caption)
    with tempfile.TemporaryDirectory() as folder:
        stem = Path(folder) / "page"
        subprocess.run(["pdftoppm", "-r", "100", "-png", "-singlefile", "-f", str(page),
                        "-l", str(page), str(pdf), str(stem)], check=True)
        shutil.copyfile(f"{stem}.png", out)
    print(f"{out}: page {page} of {pdf}")


def phone(html: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True)
        page.goto(html.resolve().as_uri())
        page.wait_for_load_state("load")
        page.evaluate("document.fonts.ready")
        # the results: a figure, its caption and the start of a table
        page.evaluate(f"""(() => {{
            const target = document.getElementById({FIGURE!r});
            if (target) window.scrollTo(0, (target.closest('figure') || target)
                                              .getBoundingClientRect().top + scrollY - 16);
        }})()""")
        page.screenshot(path=str(out))
        browser.close()
    print(f"{out}: {html} at {PHONE['width']} px")


def main(argv: list[str]) -> None:
    report = Path(argv[0] if argv else "results/report")
    images = Path(argv[1] if len(argv) > 1 else "docs/images")
    missing = [name for name in ("report.pdf", "report.html") if not (report / name).is_file()]
    if missing:
        sys.exit(f"no {' or '.join(missing)} in {report}. Remedy: make report first")
    images.mkdir(parents=True, exist_ok=True)
    pdf_page(report / "report.pdf", images / "report-page.png")
    phone(report / "report.html", images / "report-phone.png")


if __name__ == "__main__":
    main(sys.argv[1:])
