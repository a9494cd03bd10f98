"""Bishop 8.11: P(F=0 | D=0) and P(F=0 | D=0, B=0) from the factorised joint."""

from prml_pipeline.artifacts import save_json
from prml_pipeline.bayesnet import fuel_gauge_queries
from prml_pipeline.provenance import run_step


def main(smk):
    save_json(smk.output.json, fuel_gauge_queries(**smk.params.cfg))


run_step(snakemake, main)
