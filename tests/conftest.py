"""Shared fixtures: tiny generated IDX data served on 127.0.0.1, and a workflow runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))

from idx_server import FILENAMES, IdxServer, make_tiny_dataset  # noqa: E402

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
# What a copy of the workflow needs: its jobs import the package from the copy's own src/.
WORKFLOW_PARTS = ("Snakefile", "workflow", "scripts", "report", "config", "src", "profiles")


@pytest.fixture(scope="session")
def tiny_server(tmp_path_factory):
    """A mirror on 127.0.0.1 serving a tiny MNIST-format dataset; yields (server, md5s)."""
    directory = tmp_path_factory.mktemp("mirror")
    md5s = make_tiny_dataset(directory, n_train=600, n_test=200, seed=0)
    with IdxServer(directory) as server:
        yield server, md5s


def server_config(path: Path, server: IdxServer, md5s: dict[str, str]) -> Path:
    """A config file that points the mnist dataset at the test mirror."""
    files = {part: {"filename": name, "md5": md5s[name]} for part, name in FILENAMES.items()}
    path.write_text(yaml.safe_dump({
        "dataset": "mnist",
        "data": {"local_dir": None, "timeout_s": 5},
        "datasets": {"mnist": {"mirrors": [server.url], "files": files}},
    }))
    return path


def copy_workflow(destination: Path) -> Path:
    """Copy the workflow's sources (not results) so a test may edit them; return the Snakefile."""
    destination.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, destination / part,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, destination / part)
    return destination / "Snakefile"


def snakemake(workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile",
              configfiles: tuple[Path, ...] = (), check: bool = True,
              timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run snakemake on `snakefile` in `workdir` and return the finished process."""
    command = [SNAKEMAKE, "-s", str(snakefile), "--directory", str(workdir), *args]
    if configfiles:
        command += ["--configfile", *map(str, configfiles)]
    # Each run's output cache is its workdir's own .cache/ (the Snakefile's default), never a
    # cache the caller's environment points at: a test must not find another run's results.
    env = {key: value for key, value in os.environ.items() if key != "SNAKEMAKE_OUTPUT_CACHE"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n"
                             f"{done.stdout[-4000:]}\n{done.stderr[-8000:]}")
    return done


def tiny_configs(workdir: Path, server: IdxServer, md5s: dict[str, str]) -> tuple[Path, Path]:
    return (REPO / "tests" / "data" / "tiny.yaml",
            server_config(workdir / "server.yaml", server, md5s))


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
