# Figures: each rendered by its own script from cached artifacts only (never by retraining).


rule figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(
            "results/figures/{name}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{name}",
        ),
        prov=prov("figure", "{name}"),
    log:
        log_path("figure", "{name}"),
    benchmark:
        bench_path("figure", "{name}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cfg=figure_cfg,
    script:
        "../../scripts/figures/{wildcards.name}.py"
