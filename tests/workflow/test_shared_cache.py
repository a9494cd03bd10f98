"""Two Unix users, two workspaces, one output cache folder (mode 1777), as a research group
would share it: user A (umask 077) fills it, user B (umask 022) builds the same report from
it, cannot alter A's entries, and a tampered entry is refused with the file named and a remedy
that works. Root ignores permissions, so the runs act as uid 1000 and `nobody` (setpriv)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from helpers import (
    REPO,
    USERS,
    as_user,
    can_act_as_other_users,
    copy_workflow,
    python_for_other_users,
    server_config,
)

from prml_pipeline.runs.cache import (
    INDEX,
    STAGING_PREFIX,
    WRITE_BITS,
    entry_name,
    verify_cache,
)

pytestmark = pytest.mark.slow


class Group:
    """A folder every user may enter, holding the workflow, a Python for the users, the
    shared cache and one workspace per user."""

    def __init__(self, base: Path, server, md5s) -> None:
        self.base = base
        self.snakefile = copy_workflow(base / "workflow")
        self.python = python_for_other_users(base, base / "workflow" / "src")
        self.cache = base / "cache"
        self.cache.mkdir()
        os.chmod(self.cache, 0o1777)
        self.tiny = base / "tiny.yaml"
        shutil.copy(REPO / "tests" / "data" / "tiny.yaml", self.tiny)
        self.server = server_config(base / "server.yaml", server, md5s)

    def workspace(self, name: str, user: str) -> Path:
        folder = self.base / name
        folder.mkdir()
        os.chown(folder, USERS[user], USERS[user])
        return folder

    def command(self, workdir: Path, *args: str) -> list[str]:
        return [str(self.python), "-m", "snakemake", "-s", str(self.snakefile), "--directory",
                str(workdir), "--cores", "2", *args, "--configfile", str(self.tiny),
                str(self.server)]

    def env(self) -> dict[str, str]:
        return {"SNAKEMAKE_OUTPUT_CACHE": str(self.cache)}

    def run(self, user: str, umask: int, workdir: Path, *args: str, check: bool = True):
        done = as_user(user, umask, self.command(workdir, "--cache", *args), workdir, self.env())
        if check and done.returncode != 0:
            raise AssertionError(f"run as {user} failed:\n{done.stderr[-6000:]}")
        return done

    def prml(self, user: str, workdir: Path, *args: str):
        return as_user(user, 0o022, [str(self.python), "-m", "prml_pipeline", *args], workdir,
                       self.env())


@pytest.fixture(scope="module")
def group(tiny_server):
    if not can_act_as_other_users():
        pytest.skip("acting as other users needs root, setpriv, a /usr/bin/python3 of this "
                    "version and this venv's libraries readable by other users")
    base = Path(tempfile.mkdtemp(prefix="prml-group-", dir="/tmp"))
    os.chmod(base, 0o755)
    yield Group(base, *tiny_server)
    shutil.rmtree(base)


def writable_by_others(cache: Path) -> list[str]:
    """What another user could write: entries and their files, and staging folders (which
    must be private to their writer, so what they hold is out of anyone else's reach)."""
    found = []
    for item in cache.iterdir():
        if item.name.startswith(STAGING_PREFIX):
            if stat.S_IMODE(item.lstat().st_mode) & 0o077:
                found.append(str(item))
            continue
        found += [str(path) for path in [item, *item.rglob("*")]
                  if path.lstat().st_mode & WRITE_BITS]
    return found


def test_a_run_killed_while_it_stores_leaves_no_entry_others_may_write(group):
    cache = group.base / "kill-cache"
    cache.mkdir()
    os.chmod(cache, 0o1777)
    workdir = group.workspace("killed", "a")
    uid = str(USERS["a"])
    process = subprocess.Popen(
        ["setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", "sh", "-c",
         'umask 000 && exec "$@"', "sh", *group.command(workdir, "--cache")],
        cwd=workdir, env={"PATH": os.environ["PATH"], "HOME": str(workdir),
                          "SNAKEMAKE_OUTPUT_CACHE": str(cache)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while len(list(cache.iterdir())) < 3 and time.time() < deadline:
            assert writable_by_others(cache) == [], "an entry was writable while it was stored"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert list(cache.iterdir()), "the run stored nothing before it was killed"
    # umask 000 would have made every file 0666: entries are read-only all the same
    assert writable_by_others(cache) == []
    findings, entries = verify_cache(cache)
    assert entries >= 1
    assert {finding.kind for finding in findings} <= {"partial"}


def test_two_users_share_one_cache_and_neither_can_alter_the_others_entries(group):
    a = group.workspace("a", "a")
    group.run("a", 0o077, a)
    entries = sorted(group.cache.iterdir())
    assert len(entries) == 22  # 4 downloads, 2 splits, 4 x (training, IWAE, latents, grid)
    for entry in entries:
        assert entry.stat().st_uid == USERS["a"]
        assert stat.S_IMODE(entry.stat().st_mode) == 0o555
        assert {stat.S_IMODE(p.stat().st_mode) for p in entry.iterdir()} == {0o444}
    assert verify_cache(group.cache) == ([], 22)

    b = group.workspace("b", "b")
    done = group.run("b", 0o022, b)
    log = done.stdout + done.stderr
    assert log.count("Restored ") == 22, log[-3000:]
    assert "Restored train_vae from output cache entry" in log
    assert not (b / "results/logs/train_vae/small/seed42.log").stat().st_size, "B retrained"
    for name in ("report/values.json", "vae/large/seed42/metrics.json"):
        assert (b / "results" / name).read_bytes() == (a / "results" / name).read_bytes()
    weights = b / "results/vae/large/seed42/weights.pt"
    assert weights.is_symlink() and weights.resolve().stat().st_uid == USERS["a"]
    assert group.prml("b", b, "audit", "results").returncode == 0

    target = weights.resolve()
    attack = (
        "import os, pathlib\n"
        f"entry = pathlib.Path('{target.parent}')\n"
        f"weights = entry / '{target.name}'\n"
        "tries = [lambda: weights.write_bytes(b'x'), lambda: weights.unlink(),\n"
        "         lambda: os.chmod(weights, 0o666), lambda: (entry / 'new').write_bytes(b'x'),\n"
        "         lambda: os.rename(entry, entry.with_name('moved')),\n"
        "         lambda: (entry / 'index.json').write_text('{}')]\n"
        "refused = 0\n"
        "for attempt in tries:\n"
        "    try:\n"
        "        attempt()\n"
        "    except PermissionError:\n"
        "        refused += 1\n"
        "print(refused)\n"
    )
    tried = as_user("b", 0o022, [str(group.python), "-c", attack], b)
    assert tried.stdout.strip() == "6", tried.stderr
    assert verify_cache(group.cache) == ([], 22)


def forge(path: Path, data: bytes) -> None:
    """Root rewrites a file of an entry (nothing else could)."""
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o644)
    path.write_bytes(data)
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)


def test_a_tampered_entry_is_refused_naming_the_file_and_its_remedy_works(group):
    a = group.base / "a"
    metrics = (a / "results/vae/large/seed42/metrics.json").resolve()
    record = (a / "results/provenance/train_vae/large/seed42.json").resolve()
    assert metrics.parent == record.parent, "one entry holds a job's outputs and record"
    # The number and the record edited so that they agree: only the digest index disagrees.
    values = json.loads(metrics.read_text())
    values["test_neg_elbo"] = values["test_neg_elbo"] - 22.0
    forged = json.dumps(values).encode()
    forge(metrics, forged)
    recorded = json.loads(record.read_text())
    recorded["outputs"]["results/vae/large/seed42/metrics.json"] = hashlib.sha256(
        forged).hexdigest()
    forge(record, json.dumps(recorded).encode())

    c = group.workspace("c", "b")
    done = group.run("b", 0o022, c, check=False)
    assert done.returncode != 0
    assert (f"Output cache entry {metrics.parent} is refused (tampered): {metrics} has "
            f"SHA-256") in done.stderr
    remedy = f"`prml cache verify {group.cache} --remove-bad`"
    assert remedy in done.stderr
    assert not (c / "results/report/values.json").exists()

    # B may not remove A's entry; A (its owner) may, as the message says.
    assert group.prml("b", c, "cache", "verify", str(group.cache), "--remove-bad").returncode == 1
    assert metrics.parent.exists()
    removal = group.prml("a", a, "cache", "verify", str(group.cache), "--remove-bad")
    assert f"removed    {metrics.parent}" in removal.stdout, removal.stdout + removal.stderr
    assert removal.returncode == 0
    group.run("b", 0o022, c)
    assert json.loads((c / "results/vae/large/seed42/metrics.json").read_text())[
        "test_neg_elbo"] != values["test_neg_elbo"]
    assert verify_cache(group.cache)[0] == []
    assert (group.cache / metrics.parent.name / INDEX).stat().st_uid == USERS["b"]
    assert (group.cache / metrics.parent.name / entry_name("_metrics.json")).is_file()
