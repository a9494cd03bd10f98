# W2: samples of the two-component mixture and its conditionals p(x2 | x1 = value) (Bishop 9.10).


rule mixture_samples:
    input:
        code=code_inputs("scripts/mixture_samples.py"),
    output:
        arrays="results/mixture/samples.npz",
        prov=prov("mixture_samples"),
    log:
        log_path("mixture_samples"),
    benchmark:
        bench_path("mixture_samples")
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    params:
        harness=HARNESS_VERSION,
        cfg=mixture_cfg,
    script:
        "../../scripts/mixture_samples.py"


rule mixture_conditional:
    input:
        code=code_inputs("scripts/mixture_conditional.py"),
    output:
        arrays="results/mixture/conditional_x1={value}.npz",
        prov=prov("mixture_conditional", "x1={value}"),
    log:
        log_path("mixture_conditional", "x1={value}"),
    benchmark:
        bench_path("mixture_conditional", "x1={value}")
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    params:
        harness=HARNESS_VERSION,
        cfg=conditional_cfg,
    script:
        "../../scripts/mixture_conditional.py"
