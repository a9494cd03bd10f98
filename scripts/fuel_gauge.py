"""Bishop 8.11: P(F=0 | D=0) and P(F=0 | D=0, B=0) from the factorised joint."""

from prml_pipeline.artifacts import save_json
from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.bayesnet import fuel_gauge_queries


def main(smk):
    save_json(smk.output.json, fuel_gauge_queries(**smk.params.cfg))


run_step(snakemake, main)
