"""The report: `template` (Jinja2 rendering of report/report.md), `tables` (number formats and
Markdown tables) and `values` (every number, table and note of the report, from artifacts)."""
