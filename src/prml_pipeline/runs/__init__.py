"""Run-keeping: the harness that runs each job and writes its provenance record, the record
reader, code dependencies, and the tools (audit, compare, bundle, crate, the `prml` command).

It wraps the science and is never imported by it. Its code is not a code input of any job:
a change that alters what a job writes (a record's format) bumps `HARNESS_VERSION`, a param of
every rule, so that only such a change reruns jobs and makes new cache keys.
"""

# Bump when a change here alters what a job writes (its provenance record): every job reruns.
HARNESS_VERSION = 1
