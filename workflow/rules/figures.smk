# Figures: each drawn by its own module, src/prml_pipeline/figures/<name>.py, from cached
# artifacts only (never by retraining). A new figure is one new module there (and its place
# in report/report.md): its SHOWS, spec(ctx) and draw() are read through FIGURES (common.smk).
# A module with parts(ctx) is one figure per part, named <module>-<part> (vae_grids-small),
# each drawn by its own job from spec(ctx, part).


wildcard_constraints:
    name="|".join(FIGURES),


rule figure:
    input:
        unpack(lambda wildcards: FIGURES[wildcards.name]["inputs"]),
        code=figure_code,
    output:
        png=report(
            "results/figures/{name}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{name}",
            labels=lambda wildcards: {
                "figure": wildcards.name,
                "shows": FIGURES[wildcards.name]["shows"],
            },
        ),
        # The same figure as vector graphics: PDF for the LaTeX report, SVG for the HTML.
        pdf="results/figures/{name}.pdf",
        svg="results/figures/{name}.svg",
        prov=prov("figure", "{name}"),
    log:
        log_path("figure", "{name}"),
    benchmark:
        bench_path("figure", "{name}")
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        harness=HARNESS_VERSION,
        cfg=lambda wildcards: {
            **FIGURES[wildcards.name]["plot"],
            "dpi": config["plots"]["dpi"],
        },
    script:
        "../../scripts/figure.py"
