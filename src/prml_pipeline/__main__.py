"""`python -m prml_pipeline COMMAND ...`: the same as the `prml` command."""

import sys

from prml_pipeline.runs.cli import main

sys.exit(main())
