# The workflow is workflow/Snakefile; this entry lets `snakemake --cores all` find it from the
# repository root. An included file's `default_target` does not carry over, so name it here.
include: "workflow/Snakefile"


workflow.default_target = "all"
