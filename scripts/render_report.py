"""Fill the report's placeholders with the collected values and the quoted source code."""

from pathlib import Path

from prml_pipeline.artifacts import atomic_path, load_json
from prml_pipeline.report.listings import definitions
from prml_pipeline.report.template import render
from prml_pipeline.runs.harness import run_step

# What the code appendix quotes: name in the template -> (file input, definitions).
LISTINGS = {
    "model": ("model", ["VAE"]),
    "loss": ("loss", ["kl_divergence", "negative_elbo"]),
    "train_step": ("train", ["train_step"]),
}


def main(smk):
    listings = {key: definitions(smk.input[source], names)
                for key, (source, names) in LISTINGS.items()}
    values = {**load_json(smk.input.values), "listings": listings}
    text = render(Path(smk.input.template).read_text(), values)
    with atomic_path(smk.output.markdown) as tmp:
        tmp.write_text(text)


run_step(snakemake, main)
