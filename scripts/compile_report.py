"""Compile the filled report with pandoc: standalone HTML (MathML) or PDF (pdflatex).

Both go through report/crossref.lua (numbered, linked figures, tables, equations and
sections) and citeproc (report/references.bib). Figures are vector graphics: the PDF takes
results/figures/<name>.pdf, the HTML <name>.svg (the report names them without extension).
The HTML is one self-contained file: style, script, math font and figures embedded.

The pandoc binary is `$PANDOC` when set (e.g. the pandoc 3 of pypandoc-binary or conda-forge),
else `pandoc` on PATH; 2.17 and 3.x are both supported.
"""

import base64
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from prml_pipeline.artifacts import atomic_path
from prml_pipeline.errors import PipelineError
from prml_pipeline.runs.harness import run_step

# Fixed dates and ids so that LaTeX and pandoc stamp nothing that changes between runs: the
# PDF's dates are the source revision's (values.json), never the clock's.
REPRODUCIBLE_ENV = {"FORCE_SOURCE_DATE": "1", "TZ": "UTC"}
# OpenType math fonts for the HTML's MathML, first found wins (Debian: fonts-lmodern).
MATH_FONTS = [
    ("Latin Modern Math", "/usr/share/texmf/fonts/opentype/public/lm-math/latinmodern-math.otf"),
    ("Latin Modern Math", "/usr/share/fonts/opentype/public/lm-math/latinmodern-math.otf"),
    ("STIX Math", "/usr/share/fonts/opentype/stix-word/STIXMath-Regular.otf"),  # fonts-stix
]


class CompileError(PipelineError):
    """pandoc or its tools are missing or failed; the message says what to install or read."""


def pandoc_version(pandoc):
    try:
        text = subprocess.run([pandoc, "--version"], capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise CompileError(f"cannot run pandoc '{pandoc}' ({error}). Remedy: install pandoc "
                           "(`make setup` does), or set PANDOC to a pandoc binary.") from None
    return tuple(int(part) for part in re.search(r"pandoc\S* (\d+)\.(\d+)", text).groups())


def html_header(css: Path, script: Path, folder: Path) -> Path:
    """Our style, the math font as a data: URL and our script, for --include-in-header."""
    found = next(((name, Path(path)) for name, path in MATH_FONTS if Path(path).is_file()), None)
    if found is None:
        raise CompileError("no OpenType math font found for the HTML report (looked for "
                           f"{', '.join(path for _, path in MATH_FONTS)}). Remedy: "
                           "`apt-get install fonts-lmodern` (`make setup` does).")
    name, path = found
    font = base64.b64encode(path.read_bytes()).decode()
    header = folder / "header.html"
    header.write_text(
        "<style>\n"
        f'@font-face {{ font-family: "{name}"; '
        f'src: url(data:font/otf;base64,{font}) format("opentype"); }}\n'
        f"{css.read_text().replace('Latin Modern Math', name)}</style>\n"
        f"<script>\n{script.read_text()}</script>\n")
    return header


# Conditional independence, \Perp in the source: U+2AEB (which pandoc writes) is in no font
# we embed, so the HTML draws it as two up tacks pulled together, as LaTeX does.
PERP_MATHML = ('<mrow><mo lspace="0.28em" rspace="0">\u22a5</mo><mspace width="-0.55em">'
               '</mspace><mo lspace="0" rspace="0.28em">\u22a5</mo></mrow>')


def source_date(values: Path) -> str:
    """SOURCE_DATE_EPOCH for the PDF: the source revision's time from values.json."""
    epoch = json.loads(values.read_text())["meta"].get("epoch")
    if epoch is None:
        raise CompileError(f"{values} holds no source date (meta.epoch). Remedy: "
                           "snakemake --cores all --forcerun report_values")
    return str(int(epoch))


def main(smk):
    fmt = smk.params.format
    out = Path(smk.output.document)
    pandoc = os.environ.get("PANDOC", "pandoc")
    version = pandoc_version(pandoc)
    args = [pandoc, smk.input.markdown, smk.input.metadata, "--standalone", "--toc",
            "--toc-depth=2", "--resource-path", os.getcwd(),
            "--lua-filter", smk.input.filter, "--citeproc",
            "--bibliography", smk.input.bibliography, "--metadata", "link-citations=true",
            "--default-image-extension", "svg" if fmt == "html" else "pdf"]
    env = {**os.environ, **REPRODUCIBLE_ENV, "SOURCE_DATE_EPOCH": source_date(
        Path(smk.input.values))}
    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(out) as tmp:
        if fmt == "html":
            embed = ["--embed-resources"] if version >= (2, 19) else ["--self-contained"]
            header = html_header(Path(smk.input.css), Path(smk.input.script), Path(tmpdir))
            args += ["--mathml", *embed, "--include-in-header", str(header)]
        else:
            args += ["--pdf-engine=pdflatex"]
        target = Path(tmpdir) / f"report.{fmt}"
        done = subprocess.run([*args, "--output", str(target)], env=env, capture_output=True,
                              text=True)
        print(done.stdout + done.stderr)
        if done.returncode != 0:
            raise CompileError(f"pandoc {'.'.join(map(str, version))} failed with exit code "
                               f"{done.returncode} making {out}; its messages are in "
                               f"{smk.log[0]}")
        if fmt == "html":
            target.write_text(target.read_text().replace("<mo>\u2aeb</mo>", PERP_MATHML))
        tmp.write_bytes(target.read_bytes())
    return {"pandoc": {"path": pandoc, "version": ".".join(map(str, version))}}


run_step(snakemake, main)
