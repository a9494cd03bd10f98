"""Fetch one IDX file of the dataset: local folder, system copy, then mirrors (MD5-checked)."""

from pathlib import Path

from prml_pipeline.data import fetch_file
from prml_pipeline.provenance import run_step


def main(smk):
    cfg = smk.params.cfg
    spec = cfg["file"]
    source = fetch_file(
        spec["filename"],
        spec["md5"],
        Path(smk.output.raw),
        mirrors=cfg["mirrors"],
        local_dir=cfg["local_dir"],
        system_dir=cfg["system_dir"],
        system_md5=spec.get("system_md5"),
        timeout=cfg["timeout_s"],
    )
    return {"source": source}


run_step(snakemake, main)
