"""Compile the filled report with pandoc: standalone HTML (MathML) or PDF (pdflatex)."""

import os
import subprocess
import tempfile
from pathlib import Path

from prml_pipeline.artifacts import atomic_path
from prml_pipeline.provenance import run_step

# Fixed dates and ids so that LaTeX and pandoc stamp nothing that changes between runs.
REPRODUCIBLE_ENV = {"SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1", "TZ": "UTC"}


def main(smk):
    fmt = smk.params.format
    out = Path(smk.output.document)
    args = ["pandoc", smk.input.markdown, smk.input.metadata, "--standalone",
            "--resource-path", os.getcwd()]
    if fmt == "html":
        args += ["--mathml", "--self-contained", "--toc"]
    else:
        args += ["--pdf-engine=pdflatex", "--toc"]
    env = {**os.environ, **REPRODUCIBLE_ENV}
    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(out) as tmp:
        target = Path(tmpdir) / f"report.{fmt}"
        done = subprocess.run([*args, "--output", str(target)], env=env, capture_output=True,
                              text=True)
        print(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"pandoc failed with exit code {done.returncode}; see the log")
        tmp.write_bytes(target.read_bytes())


run_step(snakemake, main)
