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
    params:
        cfg=figure_cfg,
    log:
        log_path("figure", "{name}"),
    benchmark:
        bench_path("figure", "{name}")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../../scripts/figures/{wildcards.name}.py"
