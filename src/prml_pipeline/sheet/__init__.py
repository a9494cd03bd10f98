"""The science of the sheet: data, the Bayesian network, regression, mixtures and the VAEs.

Nothing here imports the run-keeping (`prml_pipeline.runs`): these modules compute, and their
errors name the problem; the harness that runs a job attaches the remedy.
"""
