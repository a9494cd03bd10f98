"""Fig. 1: the Markov blanket of a node, drawn by code."""

from prml_pipeline.plotting import plot_markov_blanket
from prml_pipeline.provenance import run_step


def main(smk):
    plot_markov_blanket(smk.output.png, dpi=smk.params.cfg["dpi"])


run_step(snakemake, main)
