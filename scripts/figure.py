"""Draw one figure: the module prml_pipeline/figures/<name>.py, from the artifacts it reads.

The figure's record names that module as the code that made it."""

import importlib
import importlib.util

from prml_pipeline.runs.harness import run_step

# A part of a figure (vae_grids-small) is drawn by its module (vae_grids).
MODULE = f"prml_pipeline.figures.{snakemake.wildcards.name.split('-')[0]}"


def main(smk):
    # Writes the PNG and, beside it, the PDF and SVG (the rule's other outputs).
    importlib.import_module(MODULE).draw(smk.input, smk.params.cfg, smk.output.png)


run_step(snakemake, main, script=importlib.util.find_spec(MODULE).origin)
