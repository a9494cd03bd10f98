"""A provenance record that cannot be read or is malformed fails the job that needs it, with a
remedy that ends the refusal (not one that loops)."""

from __future__ import annotations

import pytest
from helpers import copy_run, snakemake

pytestmark = pytest.mark.slow


def test_a_corrupt_record_stops_the_job_that_needs_it_and_its_remedy_works(tiny_run, tmp_path):
    workdir, snakefile, configs = copy_run(tiny_run, tmp_path.name)
    record = "results/provenance/encode_latents/large.json"
    (workdir / record).write_text('{"rule": "encode_latents", "outputs": {')  # cut short
    done = snakemake(workdir, "--cores", "2", "--forcerun", "figure", snakefile=snakefile,
                     configfiles=configs, check=False)
    assert done.returncode != 0
    assert (f"results/vae/large/latents.npz cannot be checked against the provenance records: "
            f"{record} is not valid JSON") in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    # The remedy it names: delete the record, then a plain run remakes that job and the rest.
    assert f"delete it (`rm {record}`) and run `snakemake --cores all`" in done.stderr
    (workdir / record).unlink()
    again = snakemake(workdir, "--cores", "2", snakefile=snakefile, configfiles=configs)
    assert "rule encode_latents:" in again.stdout + again.stderr
    assert (workdir / "results/figures/vae_latents.png").is_file()
    assert "Nothing to be done" in snakemake(workdir, "-n", snakefile=snakefile,
                                             configfiles=configs).stdout
