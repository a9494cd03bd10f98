# Figures: each rendered by its own script from cached artifacts only (never by retraining).
# A new figure is one script scripts/figures/<name>.py plus one entry in FIGURES.

# Each figure: what it shows (its label in `snakemake --report`), the cached artifacts it
# reads and its plot-only settings. Its script is scripts/figures/<name>.py, an input too, so
# editing one script redraws only that figure.
FIGURES = {
    "markov_blanket": {
        "shows": "the Markov blanket of a node x: parents, children and co-parents "
        "(Bishop 8.9)",
        "inputs": {},
        "plot": {},
    },
    "regression": {
        "shows": "Bayesian linear regression, one row per experiment: log posterior over "
        "(theta_1, theta_0) and posterior-predictive variance over (x_1, x_0)",
        "inputs": {
            "experiments": expand("results/regression/{e}.npz", e=EXPERIMENTS),
        },
        "plot": {
            "titles": [
                config["regression"]["experiments"][e]["title"] for e in EXPERIMENTS
            ],
            "log_limits": config["plots"]["regression_log_limits"],
        },
    },
    "mixture_samples": {
        "shows": "samples from the Gaussian mixture of config.mixture",
        "inputs": {"samples": "results/mixture/samples.npz"},
        "plot": {"n_samples": config["mixture"]["n_samples"]},
    },
    "mixture_conditionals": {
        "shows": "conditionals p(x2 | x1) of the mixture at each value of "
        "config.mixture.condition_on, with the new mixing coefficients (Bishop 9.10)",
        "inputs": {
            "conditionals": expand(
                "results/mixture/conditional_x1={v}.npz", v=CONDITIONS
            ),
        },
        "plot": {"xlim": config["plots"]["conditional_xlim"]},
    },
    "vae_latents": {
        "shows": "latent means of test-set images under each diagonal-covariance VAE, "
        "coloured by true label",
        "inputs": {"latents": vae_artifacts("latents", DIAGONAL_MODELS)},
        "plot": {
            "titles": [config["vae"]["models"][m]["title"] for m in DIAGONAL_MODELS],
            "points": config["plots"]["latent_points"],
            "limit": config["plots"]["latent_limit"],
            "items": TEST_ITEMS,
            "class_names": dataset_spec().get("labels"),
        },
    },
    "vae_grids": {
        "shows": "images decoded from an inverse-CDF grid of latents, for each "
        "diagonal-covariance VAE",
        "inputs": {"grids": vae_artifacts("grid", DIAGONAL_MODELS)},
        "plot": {"titles": [config["vae"]["models"][m]["title"] for m in DIAGONAL_MODELS]},
    },
    "vae_fullcov": {
        "shows": "the full-covariance VAE: test-set latent means and the decoded grid",
        "inputs": {
            "latents": f"results/vae/{FULLCOV_MODEL}/latents.npz",
            "grid": f"results/vae/{FULLCOV_MODEL}/grid.npz",
        },
        "plot": {
            "title": config["vae"]["models"][FULLCOV_MODEL]["title"],
            "points": config["plots"]["latent_points"],
            "limit": config["plots"]["fullcov_latent_limit"],
            "items": TEST_ITEMS,
            "class_names": dataset_spec().get("labels"),
        },
    },
}


wildcard_constraints:
    name="|".join(FIGURES),


rule figure:
    input:
        unpack(lambda wildcards: FIGURES[wildcards.name]["inputs"]),
        script=str(ROOT / "scripts" / "figures" / "{name}.py"),
        code=lambda wildcards: package_code(f"scripts/figures/{wildcards.name}.py"),
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
        cfg=lambda wildcards: {
            **FIGURES[wildcards.name]["plot"],
            "dpi": config["plots"]["dpi"],
        },
    script:
        "../../scripts/figures/{wildcards.name}.py"
