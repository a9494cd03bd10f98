"""The errors whose message is complete for the user, at the bottom of the package.

A job run by `prml_pipeline.runs.harness.run_step` ends on such an error with its message
alone (in the rule's log and on the terminal), never a traceback. Each message names the
problem and the remedy; for an `ArtifactError` the harness adds the remedy, since only the
run-keeping knows which rule made a file.
"""

from __future__ import annotations

import os


class PipelineError(Exception):
    """A problem the user can fix; the message says what it is and how."""

    def __str__(self) -> str:  # KeyError subclasses would otherwise show the message quoted
        return str(self.args[0]) if self.args else ""


class ConfigError(PipelineError, ValueError):
    """A configuration value is invalid; the message names the key and the fix."""


class ArtifactError(PipelineError, ValueError):
    """An artifact is missing, truncated, altered or of the wrong kind.

    `path` is the file, `rule` the rule that makes it when the raiser knows (say, `train_vae`
    for a weights file). The message says what is wrong; the harness appends the remedy, the
    command that remakes the file, from the file's provenance record (else from `rule`).
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None,
                 rule: str | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)
        self.rule = rule
