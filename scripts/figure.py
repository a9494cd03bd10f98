"""Draw one figure: the module prml_pipeline/figures/<name>.py, from the artifacts it reads.

The figure's record names that module as the code that made it."""

import importlib
import importlib.util

from prml_pipeline.runs.harness import run_step

MODULE = f"prml_pipeline.figures.{snakemake.wildcards.name}"


def main(smk):
    importlib.import_module(MODULE).draw(smk.input, smk.params.cfg, smk.output.png)


run_step(snakemake, main, script=importlib.util.find_spec(MODULE).origin)
