# Bishop 8.11: posterior of an empty tank given the gauge reading, via the factorised joint.


rule fuel_gauge:
    input:
        code=code_inputs("scripts/fuel_gauge.py"),
    output:
        json="results/bayesnet/fuel_gauge.json",
        prov=prov("fuel_gauge"),
    log:
        log_path("fuel_gauge"),
    benchmark:
        bench_path("fuel_gauge")
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    params:
        harness=HARNESS_VERSION,
        cfg=config["bayesnet"],
    script:
        "../../scripts/fuel_gauge.py"
