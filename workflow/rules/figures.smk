# Figures: each drawn by its own module, src/prml_pipeline/figures/<name>.py, from cached
# artifacts only (never by retraining). A new figure is one new module there (and its place
# in report/report.md): the module's SHOWS, spec(ctx) and draw() are read from here. A module
# with parts(ctx) is one figure per part, named <module>-<part> (vae_grids-small), each drawn
# by its own job from spec(ctx, part).

import importlib
import re
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


def figure_module(name):
    """The module that draws figure `name` (vae_grids for vae_grids-small)."""
    return importlib.import_module(f"prml_pipeline.figures.{name.split('-')[0]}")


def figure_names():
    """Every figure (one per module, not style.py nor a _helper.py; one per part of a module
    with parts), in the order the report shows them (the module's first mention in
    report/report.md; any not mentioned last)."""
    modules = sorted(
        path.stem
        for path in FIGURE_DIR.glob("*.py")
        if path.stem != "style" and not path.stem.startswith("_")
    )
    report_text = (ROOT / "report" / "report.md").read_text()

    def first_mention(module):
        found = re.search(rf"figures\.{module}\b", report_text)
        return found.start() if found else len(report_text)

    names = []
    for stem in sorted(modules, key=first_mention):
        drawing = figure_module(stem)
        if hasattr(drawing, "parts"):
            names += [f"{stem}-{part}" for part in drawing.parts(FIGURE_CONTEXT)]
        else:
            names.append(stem)
    return names


def figure_entry(name):
    drawing = figure_module(name)
    part = name.partition("-")[2]
    spec = drawing.spec(FIGURE_CONTEXT, part) if part else drawing.spec(FIGURE_CONTEXT)
    return {"shows": drawing.SHOWS, **spec}


def figure_code(wildcards):
    """A figure job's code: its module and the science modules it and the script reach."""
    drawing = f"src/prml_pipeline/figures/{wildcards.name.split('-')[0]}.py"
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
        # The same figure as vector graphics: PDF for the LaTeX report, SVG for the HTML.
        pdf="results/figures/{name}.pdf",
        svg="results/figures/{name}.svg",
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
