"""Collect every number, table and provenance note of the report from the artifacts."""

import os
import subprocess

from prml_pipeline.artifacts import load_arrays, load_json, save_json
from prml_pipeline.report.values import report_values
from prml_pipeline.runs.harness import git_state, run_step


def workflow_rule(record, own_rule):
    """The record with its rule named as this workflow names it: a project that uses the
    workflow as a module (`use rule * from prml as prml_*`) runs and records `prml_figure`."""
    prefix, _, suffix = own_rule.partition("report_values")
    name = record["rule"]
    if name.startswith(prefix) and name.endswith(suffix):
        name = name[len(prefix):len(name) - len(suffix)]
    return {**record, "rule": name}
def source_time(directory: str, sources: list[str]) -> int:
    """The report's date, as seconds since 1970: the commit's time, or outside a git
    checkout the newest modification of this job's code (never the run's clock)."""
    try:
        return int(subprocess.run(["git", "-C", directory, "show", "-s", "--format=%ct", "HEAD"],
                                  capture_output=True, text=True, check=True,
                                  timeout=20).stdout.strip())
    except (OSError, subprocess.SubprocessError, ValueError):
        return int(max(os.path.getmtime(path) for path in sources))


def main(smk):
    cfg = smk.params.cfg
    runs = [(model, seed) for model in cfg["models"] for seed in smk.params.seeds]
    code = {**git_state(str(smk.scriptdir)),
            "time": source_time(str(smk.scriptdir), list(smk.input.code))}
    values = report_values(
        cfg,
        figures=dict(zip(smk.params.figures, smk.input.figures, strict=True)),
        records=[workflow_rule(load_json(path), smk.rule) for path in smk.input.records],
        fuel=load_json(smk.input.fuel_gauge),
        regression={
            name: load_arrays(path, required=("post_mean", "post_cov", "predictive_variance"))
            for name, path in zip(cfg["experiments"], smk.input.regression, strict=True)
        },
        conditionals=[load_arrays(path, required=("value", "weights", "means"))
                      for path in smk.input.conditionals],
        seeds=smk.params.seeds,
        metrics=dict(zip(runs, map(load_json, smk.input.metrics), strict=True)),
        runinfo=dict(zip(runs, map(load_json, smk.input.runinfo), strict=True)),
        per_image={run: load_arrays(path, required=("neg_elbo", "neg_iwae"))
                   for run, path in zip(runs, smk.input.per_image, strict=True)},
        latents={model: load_arrays(path, required=("latents", "labels"))
                 for model, path in zip(cfg["models"], smk.input.latents, strict=True)},
        code=code,
        numbers={path: load_json(path) for path in smk.input.numbers},
    )
    save_json(smk.output.json, values)


run_step(snakemake, main)
