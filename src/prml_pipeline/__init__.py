"""Domain code of the PRML sheet pipeline: data, analytic results, VAEs, plots, provenance."""

__version__ = "0.1.0"
