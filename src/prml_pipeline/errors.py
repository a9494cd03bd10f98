"""The one base class of errors whose message is complete for the user.

A job wrapped by `provenance.run_step` ends on such an error with its message alone (in the
rule's log and on the terminal), never a traceback. Each message names the problem and the
remedy.
"""

from __future__ import annotations


class PipelineError(Exception):
    """A problem the user can fix; the message says what it is and how."""

    def __str__(self) -> str:  # KeyError subclasses would otherwise show the message quoted
        return str(self.args[0]) if self.args else ""


class ConfigError(PipelineError, ValueError):
    """A configuration value is invalid; the message names the key and the fix.

    Here rather than in `config`, so that a job raising it (train_vae, on a batch larger than
    the training set) does not depend on the workflow's config checks as code.
    """
