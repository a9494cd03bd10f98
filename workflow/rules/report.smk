# Report: collect every number from the artifacts, fill the pandoc source, compile PDF and HTML.


rule report_values:
    input:
        fuel_gauge="results/bayesnet/fuel_gauge.json",
        regression=expand("results/regression/{e}.npz", e=EXPERIMENTS),
        conditionals=expand("results/mixture/conditional_x1={v}.npz", v=CONDITIONS),
        metrics=every_run("metrics.json"),
        runinfo=every_run("runinfo.json"),
        per_image=every_run("iwae_per_image.npz"),
        latents=[f"results/vae/{m}/latents.npz" for m in MODELS],
        figures=[figure_path(name) for name in FIGURES],
        numbers=report_numbers,
        records=upstream_records,
        code=code_inputs("scripts/report_values.py"),
    output:
        json=report(
            "results/report/values.json",
            caption="../report/values.rst",
            category="Numbers",
        ),
        prov=prov("report_values"),
    log:
        log_path("report_values"),
    benchmark:
        bench_path("report_values")
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        harness=HARNESS_VERSION,
        cfg=lambda wildcards: {
            "dataset": config["dataset"],
            "dataset_name": dataset_spec()["name"],
            "item_noun": dataset_spec()["item_noun"],
            "models": config["vae"]["models"],
            "experiments": config["regression"]["experiments"],
            "regression": {
                k: v for k, v in config["regression"].items() if k != "experiments"
            },
            "mixture": config["mixture"],
            "bayesnet": config["bayesnet"],
            "vae": {k: v for k, v in config["vae"].items() if k != "models"},
            # Which models Figures 6 and 7 (diagonal) and 8 (full covariance) show.
            "figure_models": {"diagonal": DIAGONAL_MODELS, "fullcov": FULLCOV_MODEL},
            "class_names": dataset_spec().get("labels"),
            "data": {"normalize_mean": config["data"]["normalize_mean"]},
        },
        figures=list(FIGURES),
        seeds=SEEDS,
    script:
        "../../scripts/report_values.py"


rule render_report:
    input:
        values="results/report/values.json",
        template=str(ROOT / "report" / "report.md"),
        # the appendix quotes the model, its loss and its training step from these files
        model=str(ROOT / "src" / "prml_pipeline" / "sheet" / "vae" / "model.py"),
        loss=str(ROOT / "src" / "prml_pipeline" / "sheet" / "vae" / "loss.py"),
        train=str(ROOT / "src" / "prml_pipeline" / "sheet" / "vae" / "train.py"),
        code=code_inputs("scripts/render_report.py"),
    output:
        markdown="results/report/report.md",
        prov=prov("render_report"),
    log:
        log_path("render_report"),
    benchmark:
        bench_path("render_report")
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    params:
        harness=HARNESS_VERSION,
    script:
        "../../scripts/render_report.py"


rule report_html:
    input:
        markdown="results/report/report.md",
        values="results/report/values.json",
        metadata=str(ROOT / "report" / "metadata.yaml"),
        filter=str(ROOT / "report" / "crossref.lua"),
        bibliography=str(ROOT / "report" / "references.bib"),
        css=str(ROOT / "report" / "report.css"),
        script=str(ROOT / "report" / "report.js"),
        figures=[figure_path(name, "svg") for name in FIGURES],
        code=code_inputs("scripts/compile_report.py"),
    output:
        document=report(
            "results/report/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
        prov=prov("report_html"),
    log:
        log_path("report_html"),
    benchmark:
        bench_path("report_html")
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        harness=HARNESS_VERSION,
        format="html",
    script:
        "../../scripts/compile_report.py"


# Its own rule, not `use rule report_html`: a rule made by `use rule` does not keep
# `localrule`, and the HTML's style sheet and script are no inputs of the PDF.
rule report_pdf:
    input:
        markdown="results/report/report.md",
        values="results/report/values.json",
        metadata=str(ROOT / "report" / "metadata.yaml"),
        filter=str(ROOT / "report" / "crossref.lua"),
        bibliography=str(ROOT / "report" / "references.bib"),
        figures=[figure_path(name, "pdf") for name in FIGURES],
        code=code_inputs("scripts/compile_report.py"),
    output:
        document=report(
            "results/report/report.pdf",
            caption="../report/report.rst",
            category="Report",
        ),
        prov=prov("report_pdf"),
    log:
        log_path("report_pdf"),
    benchmark:
        bench_path("report_pdf")
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        harness=HARNESS_VERSION,
        format="pdf",
    script:
        "../../scripts/compile_report.py"
