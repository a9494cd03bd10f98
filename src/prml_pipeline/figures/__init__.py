"""Figures: `style` (the shared look and the saver) and one module per figure.

A figure module `<name>.py` holds everything about its figure: `SHOWS` (one line, its label
in `snakemake --report`), `spec(ctx)` (the artifacts it reads and its plot settings, from the
workflow's lookups) and `draw(inputs, settings, path)`. The workflow lists every module here
as a figure: a new figure is one new module (and its place in report/report.md).
"""
