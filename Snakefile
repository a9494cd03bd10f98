# PRML sheet pipeline: data -> analytic results and VAEs -> figures -> report.
# `snakemake --cores all` builds results/report/report.{pdf,html}; see README.md.

from snakemake.utils import min_version, validate

min_version("9.0")


# Paths from workflow.basedir so that `--directory elsewhere` finds the defaults.
configfile: f"{workflow.basedir}/config/config.yaml"


validate(config, schema="workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/bayesnet.smk"
include: "workflow/rules/regression.smk"
include: "workflow/rules/mixture.smk"
include: "workflow/rules/vae.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


# Everything but training is cheap: keep it on the submitting node under a cluster executor.
localrules:
    all,
    download,
    parse_split,
    fuel_gauge,
    regression_experiment,
    mixture_samples,
    mixture_conditional,
    encode_latents,
    decode_grid,
    figure,
    report_values,
    render_report,
    report_html,
    report_pdf,


rule all:
    default_target: True
    input:
        "results/report/report.pdf",
        "results/report/report.html",
