# W1: Bayesian linear regression, one job per experiment (posterior and predictive variance).


rule regression_experiment:
    input:
        code=code_inputs("scripts/regression_experiment.py"),
    output:
        arrays="results/regression/{experiment}.npz",
        prov=prov("regression_experiment", "{experiment}"),
    log:
        log_path("regression_experiment", "{experiment}"),
    benchmark:
        bench_path("regression_experiment", "{experiment}")
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        harness=HARNESS_VERSION,
        cfg=experiment_cfg,
    script:
        "../../scripts/regression_experiment.py"
