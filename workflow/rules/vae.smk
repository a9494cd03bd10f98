# VAEs: train each size under each seed (GPU-tagged: submitted to the cluster under the slurm
# profile), estimate its test log-likelihood, and cache the first seed's test-set latent means
# and decoded inverse-CDF grids, which the figures read.


rule train_vae:
    input:
        train="results/data/train.npz",
        test="results/data/test.npz",
        code=code_inputs("scripts/train_vae.py"),
    output:
        weights="results/vae/{model}/seed{seed}/weights.pt",
        metrics="results/vae/{model}/seed{seed}/metrics.json",
        runinfo="results/vae/{model}/seed{seed}/runinfo.json",
        prov=prov("train_vae", "{model}/seed{seed}"),
    log:
        log_path("train_vae", "{model}/seed{seed}"),
    # Kept in the output cache (see the Snakefile): a setting changed back restores it.
    cache: True
    priority: training_cost
    conda:
        ENV
    # One thread per training job: on two cores two models train at once (see README).
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        harness=HARNESS_VERSION,
        cfg=train_cfg,
        software=NUMERIC_SOFTWARE,
        # Per-epoch checkpoints live outside the outputs: Snakemake deletes the outputs of a
        # failed job, and a rerun must find the checkpoint to resume from.
        checkpoint_dir=lambda wildcards: (
            f"results/checkpoints/{wildcards.model}/seed{wildcards.seed}"
        ),
    script:
        "../../scripts/train_vae.py"


rule encode_latents:
    input:
        weights=figure_weights,
        test="results/data/test.npz",
        code=code_inputs("scripts/encode_latents.py"),
    output:
        arrays="results/vae/{model}/latents.npz",
        prov=prov("encode_latents", "{model}"),
    log:
        log_path("encode_latents", "{model}"),
    # Kept in the output cache (see the Snakefile): a setting changed back restores it.
    cache: True
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        harness=HARNESS_VERSION,
        software=NUMERIC_SOFTWARE,
    script:
        "../../scripts/encode_latents.py"


rule decode_grid:
    input:
        weights=figure_weights,
        code=code_inputs("scripts/decode_grid.py"),
    output:
        arrays="results/vae/{model}/grid.npz",
        prov=prov("decode_grid", "{model}"),
    log:
        log_path("decode_grid", "{model}"),
    # Kept in the output cache (see the Snakefile): a setting changed back restores it.
    cache: True
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        harness=HARNESS_VERSION,
        cfg=grid_cfg,
        software=NUMERIC_SOFTWARE,
    script:
        "../../scripts/decode_grid.py"


# The importance-weighted bound (IWAE) from saved weights: changing K never retrains.
rule iwae_bound:
    input:
        weights="results/vae/{model}/seed{seed}/weights.pt",
        test="results/data/test.npz",
        code=code_inputs("scripts/iwae_bound.py"),
    output:
        json="results/vae/{model}/seed{seed}/iwae.json",
        # -IWAE and -ELBO of each test image (standard errors, paired differences)
        per_image="results/vae/{model}/seed{seed}/iwae_per_image.npz",
        prov=prov("iwae_bound", "{model}/seed{seed}"),
    log:
        log_path("iwae_bound", "{model}/seed{seed}"),
    # Kept in the output cache (see the Snakefile): a setting changed back restores it.
    cache: True
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        harness=HARNESS_VERSION,
        cfg=iwae_cfg,
        software=NUMERIC_SOFTWARE,
    script:
        "../../scripts/iwae_bound.py"
