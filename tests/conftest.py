"""Shared fixtures: tiny generated IDX data served on 127.0.0.1, and one complete tiny run.
The helpers they use (and tests import) live in helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import (  # noqa: E402
    IdxServer,
    copy_workflow,
    make_tiny_dataset,
    snakemake,
    tiny_configs,
)


@pytest.fixture(scope="session")
def tiny_server(tmp_path_factory):
    """A mirror on 127.0.0.1 serving a tiny MNIST-format dataset; yields (server, md5s)."""
    directory = tmp_path_factory.mktemp("mirror")
    md5s = make_tiny_dataset(directory, n_train=600, n_test=200, seed=0)
    with IdxServer(directory) as server:
        yield server, md5s


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_server):
    """One complete build of the workflow on tiny data, from a copy of the workflow sources.

    Yields (workdir, snakefile, configfiles). Tests must treat it as read-only.
    """
    server, md5s = tiny_server
    root = tmp_path_factory.mktemp("tiny_run")
    snakefile = copy_workflow(root / "workflow_copy")
    workdir = root / "run"
    workdir.mkdir()
    configs = tiny_configs(workdir, server, md5s)
    snakemake(workdir, "--cores", "2", snakefile=snakefile, configfiles=configs)
    return workdir, snakefile, configs
