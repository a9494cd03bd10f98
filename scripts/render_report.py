"""Fill the report's placeholders with the collected values."""

from pathlib import Path

from prml_pipeline.artifacts import atomic_path, load_json
from prml_pipeline.report.template import render
from prml_pipeline.runs.harness import run_step


def main(smk):
    text = render(Path(smk.input.template).read_text(), load_json(smk.input.values))
    with atomic_path(smk.output.markdown) as tmp:
        tmp.write_text(text)


run_step(snakemake, main)
