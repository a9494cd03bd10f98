"""The shared output cache: entries read-only for everyone from the moment they are stored,
never rewritten, verified on restore; `prml cache verify` lists what is wrong."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from helpers import as_user, can_act_as_other_users, python_for_other_users

from prml_pipeline.runs import cache
from prml_pipeline.runs.cache import INDEX, check_entry, entry_name, publish, verify_cache
from prml_pipeline.runs.records import sha256_file

KEY = "ab" * 32


def outputs(folder: Path, weights: bytes = b"weights") -> list[tuple[Path, str]]:
    """A cached job's outputs (weights and its provenance record) with Snakemake's extensions."""
    (folder / "results/provenance/train_vae").mkdir(parents=True, exist_ok=True)
    artifact = folder / "results/weights.pt"
    artifact.write_bytes(weights)
    record = folder / "results/provenance/train_vae/small.json"
    record.write_text(json.dumps({"rule": "train_vae", "inputs": {}, "outputs": {
        "results/weights.pt": sha256_file(artifact)}}))
    return [(artifact, "_weights.pt"), (record, "_prov.json")]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cache").mkdir()
    return tmp_path


def relative(pairs):
    return [(path.relative_to(Path.cwd()), ext) for path, ext in pairs]


def test_an_entry_is_read_only_for_everyone_whatever_the_umask(workspace):
    old = os.umask(0o077)
    try:
        entry = publish(workspace / "cache", KEY, relative(outputs(workspace)), "train_vae")
    finally:
        os.umask(old)
    assert entry == workspace / "cache" / KEY
    assert stat.S_IMODE(entry.stat().st_mode) == 0o555
    for path in entry.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, path
    index = json.loads((entry / INDEX).read_text())
    assert index["files"][entry_name("_weights.pt")]["output"] == "results/weights.pt"
    assert index["files"][entry_name("_weights.pt")]["sha256"] == sha256_file(
        workspace / "results/weights.pt")
    assert check_entry(entry).problems == []


def test_group_mode_keeps_entries_from_other_users(workspace):
    entry = publish(workspace / "cache", KEY, relative(outputs(workspace)), "train_vae",
                    mode="group")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o550
    assert {stat.S_IMODE(p.stat().st_mode) for p in entry.iterdir()} == {0o440}


def test_an_existing_entry_is_never_rewritten(workspace):
    first = publish(workspace / "cache", KEY, relative(outputs(workspace)), "train_vae")
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    again = publish(workspace / "cache", KEY,
                    relative(outputs(workspace, weights=b"other weights")), "train_vae")
    assert again is None
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    assert [p.name for p in (workspace / "cache").iterdir()] == [KEY]  # no staging left


def _publish_in_process(folder: str, weights: bytes, queue) -> None:
    os.chdir(folder)
    pairs = outputs(Path(folder), weights)
    queue.put(publish(Path(folder) / "../cache", KEY,
                      [(p.relative_to(folder), e) for p, e in pairs], "train_vae") is not None)


def test_concurrent_stores_of_one_key_leave_one_complete_entry(workspace):
    queue = multiprocessing.get_context("fork").Queue()
    workers = []
    for n in range(6):
        folder = workspace / f"ws{n}"
        folder.mkdir()
        workers.append(multiprocessing.get_context("fork").Process(
            target=_publish_in_process, args=(str(folder), f"weights {n}".encode(), queue)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    won = [queue.get() for _ in workers]
    assert won.count(True) == 1
    assert [p.name for p in (workspace / "cache").iterdir()] == [KEY]
    assert check_entry(workspace / "cache" / KEY).problems == []


def tamper(path: Path, data: bytes) -> None:
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o644)
    path.write_bytes(data)
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)


def test_verify_lists_tampered_partial_and_writable_entries(workspace):
    store = workspace / "cache"
    good = publish(store, KEY, relative(outputs(workspace)), "train_vae")
    assert verify_cache(store) == ([], 1)
    edited = publish(store, "cd" * 32, relative(outputs(workspace, b"2")), "train_vae")
    tamper(edited / entry_name("_weights.pt"), b"forged")
    # a file edited together with its record: the index, written once, still disagrees
    forged = publish(store, "ef" * 32, relative(outputs(workspace, b"3")), "train_vae")
    tamper(forged / entry_name("_weights.pt"), b"forged")
    record = json.loads((forged / entry_name("_prov.json")).read_text())
    record["outputs"]["results/weights.pt"] = sha256_file(forged / entry_name("_weights.pt"))
    tamper(forged / entry_name("_prov.json"), json.dumps(record).encode())
    open_entry = publish(store, "01" * 32, relative(outputs(workspace, b"4")), "train_vae")
    os.chmod(open_entry / entry_name("_weights.pt"), 0o666)
    (store / f"{cache.STAGING_PREFIX}{'23' * 32}-x").mkdir(mode=0o700)
    (store / ("45" * 32 + "_weights.pt")).write_bytes(b"Snakemake's own layout")
    findings, entries = verify_cache(store)
    assert entries == 4
    found = {(f.kind, f.path.name) for f in findings}
    assert found == {("tampered", "cd" * 32), ("tampered", "ef" * 32),
                     ("writable", "01" * 32), ("partial", f"{cache.STAGING_PREFIX}{'23' * 32}-x"),
                     ("unindexed", "45" * 32 + "_weights.pt")}
    assert good.name not in {f.path.name for f in findings}
    tampered = next(f for f in findings if f.path.name == "cd" * 32)
    assert f"{edited / entry_name('_weights.pt')} has SHA-256" in tampered.detail


# Two real Unix users on one cache folder (mode 1777): root ignores permissions, so the
# checks run as uid 1000 and as `nobody`.

@pytest.fixture(scope="module")
def other_users_python():
    if not can_act_as_other_users():
        pytest.skip("acting as other users needs root, setpriv, a /usr/bin/python3 of this "
                    "version and this venv's libraries readable by other users")
    base = Path(tempfile.mkdtemp(prefix="prml-users-", dir="/tmp"))
    os.chmod(base, 0o755)
    src = base / "src"  # a copy: the checkout may lie where other users cannot go
    shutil.copytree(Path(cache.__file__).resolve().parents[1], src / "prml_pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    yield base, python_for_other_users(base, src)
    shutil.rmtree(base)


def as_other(user: str, umask: int, python: Path, code: str, cwd: Path):
    return as_user(user, umask, [str(python), "-c", code], cwd)


def test_another_user_reads_but_cannot_alter_an_entry(other_users_python):
    base, python = other_users_python
    store = base / "shared-cache"
    store.mkdir()
    os.chmod(store, 0o1777)
    for name in ("a", "b"):
        (base / name).mkdir()
    os.chown(base / "a", 1000, 1000)
    os.chown(base / "b", 65534, 65534)
    outputs(base / "a")  # the job's outputs, in A's workspace, then stored by A
    for path in (base / "a").rglob("*"):
        os.chown(path, 1000, 1000)
    fill = (
        "import pathlib\n"
        "from prml_pipeline.runs.cache import publish\n"
        "pairs = [(pathlib.Path('results/weights.pt'), '_weights.pt'),\n"
        "         (pathlib.Path('results/provenance/train_vae/small.json'), '_prov.json')]\n"
        f"print(publish(pathlib.Path('{store}'), '{KEY}', pairs, 'train_vae'))\n"
    )
    done = as_other("a", 0o077, python, fill, base / "a")
    assert done.returncode == 0, done.stderr
    entry = store / KEY
    assert entry.stat().st_uid == 1000
    attack = (
        "import os, pathlib;"
        f"entry = pathlib.Path('{entry}');"
        "weights = entry / 'output_weights.pt';"
        "print(weights.read_bytes().decode());"
        "tries = [lambda: weights.write_bytes(b'x'), lambda: weights.unlink(),"
        " lambda: os.chmod(weights, 0o666), lambda: (entry / 'new').write_bytes(b'x'),"
        f" lambda: os.rename(entry, '{store}/moved'), lambda: os.rename(weights, entry / 'w')];"
        "failed = 0\n"
        "for attempt in tries:\n"
        "    try:\n        attempt()\n"
        "    except PermissionError:\n        failed += 1\n"
        "print(failed)"
    )
    done = as_other("b", 0o022, python, attack, base / "b")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["weights", "6"]
    assert check_entry(entry).problems == []


def test_prml_cache_verify_exits_1_on_a_bad_entry_and_removes_it_on_request(workspace, capsys):
    from prml_pipeline.runs.cli import main

    store = workspace / "cache"
    publish(store, KEY, relative(outputs(workspace)), "train_vae")
    assert main(["cache", "verify", str(store)]) == 0
    assert "1 entries checked" in capsys.readouterr().out
    bad = publish(store, "cd" * 32, relative(outputs(workspace, b"2")), "train_vae")
    tamper(bad / entry_name("_weights.pt"), b"forged")
    assert main(["cache", "verify", str(store)]) == 1
    out = capsys.readouterr().out
    assert f"tampered   {bad / entry_name('_weights.pt')} has SHA-256" in out
    assert main(["cache", "verify", str(store), "--remove-bad"]) == 0
    assert f"removed    {bad}" in capsys.readouterr().out
    assert sorted(p.name for p in store.iterdir()) == [KEY]
    assert main(["cache", "verify", str(workspace / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_a_group_entry_is_unreadable_not_tampered_for_users_outside_the_group(
        other_users_python):
    """cache.mode: group keeps an entry from other users; they recompute, nothing is refused."""
    base, python = other_users_python
    store = base / "group-cache"
    store.mkdir()
    os.chmod(store, 0o1777)
    workspace = base / "group-a"
    workspace.mkdir()
    outputs(workspace)
    for path in [workspace, *workspace.rglob("*")]:
        os.chown(path, 1000, 1000)
    fill = (
        "import pathlib\n"
        "from prml_pipeline.runs.cache import publish\n"
        "pairs = [(pathlib.Path('results/weights.pt'), '_weights.pt'),\n"
        "         (pathlib.Path('results/provenance/train_vae/small.json'), '_prov.json')]\n"
        f"publish(pathlib.Path('{store}'), '{KEY}', pairs, 'train_vae', mode='group')\n"
    )
    assert as_other("a", 0o022, python, fill, workspace).returncode == 0
    look = ("import pathlib\nfrom prml_pipeline.runs.cache import check_entry\n"
            f"print([kind for kind, _ in check_entry(pathlib.Path('{store / KEY}')).problems])\n")
    done = as_other("b", 0o022, python, look, base)
    assert done.stdout.strip() == "['unreadable']", done.stderr


@pytest.mark.parametrize("index", [
    "[]", '{"key": "KEY", "files": ["output_weights.pt"]}',
    '{"key": "KEY", "files": {"output_weights.pt": "0000"}}',
    '{"key": "other", "files": {}}', "not json",
])
def test_a_forged_index_of_any_shape_is_tampered(workspace, index):
    entry = publish(workspace / "cache", KEY, relative(outputs(workspace)), "train_vae")
    tamper(entry / INDEX, index.replace("KEY", KEY).encode())
    assert [kind for kind, _ in check_entry(entry).problems] == ["tampered"]
