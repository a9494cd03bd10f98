"""Fetch one IDX file of the dataset: local folder, system copy, then mirrors (MD5-checked).

The sources come from the config, not from the job's params: they say where the file is
fetched from, not what it is, so changing them reruns nothing.
"""

from pathlib import Path

from prml_pipeline.runs.harness import run_step
from prml_pipeline.sheet.data import fetch_file, offline_alternative


def main(smk):
    spec = smk.params.cfg["file"]
    dataset = smk.config["datasets"][smk.params.cfg["dataset"]]
    data = smk.config["data"]
    source = fetch_file(
        spec["filename"],
        spec["md5"],
        Path(smk.output.raw),
        mirrors=dataset["mirrors"],
        local_dir=data.get("local_dir"),
        system_dir=dataset.get("system_dir"),
        system_md5=spec.get("system_md5"),
        system_package=dataset.get("system_package"),
        timeout=data["timeout_s"],
        alternative=offline_alternative(smk.config["datasets"], smk.params.cfg["dataset"]),
    )
    return {"source": source}


run_step(snakemake, main)
