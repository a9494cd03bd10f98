# VAEs: train each size (GPU-tagged: submitted to the cluster under the slurm profile), then
# cache test-set latent means and decoded inverse-CDF grids, which the figures read.


rule train_vae:
    input:
        train="results/data/train.npz",
        test="results/data/test.npz",
        code=module("vae", "train"),
    output:
        weights="results/vae/{model}/weights.pt",
        metrics="results/vae/{model}/metrics.json",
        runinfo="results/vae/{model}/runinfo.json",
        prov=prov("train_vae", "{model}"),
    log:
        log_path("train_vae", "{model}"),
    benchmark:
        bench_path("train_vae", "{model}")
    conda:
        ENV
    # One thread per training job: on two cores two models train at once (see README).
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        cfg=train_cfg,
        # Per-epoch checkpoints live outside the outputs: Snakemake deletes the outputs of a
        # failed job, and a rerun must find the checkpoint to resume from.
        checkpoint_dir=lambda wildcards: f"results/checkpoints/{wildcards.model}",
    script:
        "../../scripts/train_vae.py"


rule encode_latents:
    input:
        weights="results/vae/{model}/weights.pt",
        test="results/data/test.npz",
        code=module("vae"),
    output:
        arrays="results/vae/{model}/latents.npz",
        prov=prov("encode_latents", "{model}"),
    log:
        log_path("encode_latents", "{model}"),
    benchmark:
        bench_path("encode_latents", "{model}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=architecture_cfg,
    script:
        "../../scripts/encode_latents.py"


rule decode_grid:
    input:
        weights="results/vae/{model}/weights.pt",
        code=module("vae"),
    output:
        arrays="results/vae/{model}/grid.npz",
        prov=prov("decode_grid", "{model}"),
    log:
        log_path("decode_grid", "{model}"),
    benchmark:
        bench_path("decode_grid", "{model}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cfg=grid_cfg,
    script:
        "../../scripts/decode_grid.py"
