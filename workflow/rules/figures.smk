# Figures: each drawn by its own module, src/prml_pipeline/figures/<name>.py, from cached
# artifacts only (never by retraining). A new figure is one new module there (and its place
# in report/report.md): the module's SHOWS, spec(ctx) and draw() are read from here.

import importlib
import types

# What a figure module's spec(ctx) may read: the config and the workflow's lookups.
FIGURE_CONTEXT = types.SimpleNamespace(
    config=config,
    experiments=EXPERIMENTS,
    conditions=CONDITIONS,
    diagonal_models=DIAGONAL_MODELS,
    fullcov_model=FULLCOV_MODEL,
    model_title=lambda model: config["vae"]["models"][model]["title"],
    test_items=TEST_ITEMS,
    class_names=dataset_spec().get("labels"),
)
FIGURE_DIR = ROOT / "src" / "prml_pipeline" / "figures"


def figure_names():
    """Every figure module (not style.py, not a _helper.py), in the order the report shows
    them (their first mention in report/report.md; any not mentioned last)."""
    names = sorted(
        path.stem
        for path in FIGURE_DIR.glob("*.py")
        if path.stem != "style" and not path.stem.startswith("_")
    )
    report_text = (ROOT / "report" / "report.md").read_text()

    def first_mention(name):
        found = report_text.find(f"figures.{name}.")
        return found if found >= 0 else len(report_text)

    return sorted(names, key=first_mention)


def figure_entry(name):
    drawing = importlib.import_module(f"prml_pipeline.figures.{name}")
    return {"shows": drawing.SHOWS, **drawing.spec(FIGURE_CONTEXT)}


def figure_code(wildcards):
    """A figure job's code: its module and the science modules it and the script reach."""
    drawing = f"src/prml_pipeline/figures/{wildcards.name}.py"
    return sorted({str(ROOT / drawing), *code_inputs("scripts/figure.py", drawing)})


# Each figure: what it shows (its label in `snakemake --report`), the cached artifacts it
# reads and its plot-only settings, from its module.
FIGURES = {name: figure_entry(name) for name in figure_names()}


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
