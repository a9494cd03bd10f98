"""Shared test helpers: tiny IDX data and a faulty mirror, and running copies of the workflow.

The data: offline stand-ins for the MNIST mirrors, tiny generated IDX files and a faulty HTTP
server.
``make_tiny_dataset`` writes the four MNIST files (same names and format, a few hundred images of
seven-segment digits) and ``IdxServer`` serves a folder on 127.0.0.1 with per-file fault
injection. For several mirrors, start several servers (each has its own port and faults).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import yaml

from prml_pipeline.sheet.data import write_idx

FILENAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FAULT_MODES = ("404", "500", "timeout", "truncate", "corrupt")

# Seven-segment layout in a 28x28 frame: (row slice, column slice) of each stroke.
_SEGMENTS = {
    "a": (slice(4, 7), slice(8, 20)),  # top
    "b": (slice(4, 14), slice(17, 20)),  # upper right
    "c": (slice(13, 24), slice(17, 20)),  # lower right
    "d": (slice(21, 24), slice(8, 20)),  # bottom
    "e": (slice(13, 24), slice(8, 11)),  # lower left
    "f": (slice(4, 14), slice(8, 11)),  # upper left
    "g": (slice(12, 15), slice(8, 20)),  # middle
}
_DIGITS = ["abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg"]


def _templates() -> np.ndarray:
    templates = np.zeros((10, 28, 28), dtype=np.float64)
    for digit, segments in enumerate(_DIGITS):
        for name in segments:
            rows, cols = _SEGMENTS[name]
            templates[digit, rows, cols] = 1.0
    return templates


def _images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Digit templates with a random shift (+-3 px), stroke intensity and per-pixel noise."""
    templates = _templates()
    images = np.empty((labels.size, 28, 28), dtype=np.uint8)
    shifts = rng.integers(-3, 4, size=(labels.size, 2))
    intensity = rng.uniform(0.6, 1.0, size=labels.size)
    for i, label in enumerate(labels):
        image = np.roll(templates[label], tuple(shifts[i]), axis=(0, 1))
        noise = rng.uniform(0.7, 1.0, size=image.shape)
        images[i] = np.clip(255.0 * intensity[i] * image * noise, 0, 255).astype(np.uint8)
    return images


def make_tiny_dataset(
    directory: Path, n_train: int = 200, n_test: int = 100, seed: int = 0
) -> dict[str, str]:
    """Write the four gzipped MNIST-format files to ``directory``; return {filename: md5}.

    Byte-deterministic for a given seed (write_idx uses gzip mtime 0).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        # Balanced labels in random order, so every class appears even in tiny sets.
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        arrays[FILENAMES[f"{split}_images"]] = _images(labels, rng)
        arrays[FILENAMES[f"{split}_labels"]] = labels
    checksums = {}
    for filename, array in arrays.items():
        write_idx(directory / filename, array)
        checksums[filename] = hashlib.md5((directory / filename).read_bytes()).hexdigest()
    return checksums


class IdxServer:
    """Serve ``directory`` over HTTP on 127.0.0.1 (free port) in a daemon thread.

    ``faults`` maps a file name to one of FAULT_MODES:
    "404" / "500" answer with that status; "timeout" stalls ``stall_s`` seconds before answering
    (use a shorter client timeout); "truncate" announces the full Content-Length but sends half
    the bytes and closes; "corrupt" sends different bytes of the same length.
    ``requests`` counts GET requests per file name; ``url`` is the base URL, ending in '/'.
    Use as a context manager; leaving it stops the server and wakes any stalled handler.
    """

    def __init__(
        self,
        directory: Path,
        faults: dict[str, str] | None = None,
        *,
        stall_s: float = 3.0,
    ) -> None:
        self.directory = Path(directory)
        self.faults = dict(faults or {})
        unknown = set(self.faults.values()) - set(FAULT_MODES)
        if unknown:
            raise ValueError(f"unknown fault modes {sorted(unknown)}; use {FAULT_MODES}")
        self.stall_s = stall_s
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval keeps shutdown (which waits for the next poll) fast in tests.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> IdxServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

            def do_GET(self) -> None:
                name = unquote(urlsplit(self.path).path).lstrip("/")
                with server._lock:
                    server.requests[name] += 1
                mode = server.faults.get(name)
                path = server.directory / name
                if mode in ("404", "500"):
                    self.send_error(int(mode))
                    return
                if "/" in name or not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                if mode == "timeout" and server._closing.wait(server.stall_s):
                    return  # server is shutting down: drop the request
                if mode == "corrupt":
                    body = (np.frombuffer(body, dtype=np.uint8) ^ 0x55).tobytes()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (e.g. after its own timeout)
                self.close_connection = True

        return Handler


# ------------------------------------------------------------------ running the workflow

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
# What a copy of the workflow needs: its jobs import the package from the copy's own src/.
WORKFLOW_PARTS = ("Snakefile", "workflow", "scripts", "report", "config", "src", "profiles")


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


def copy_run(tiny_run, name):
    """A private copy of the finished tiny run (results and Snakemake's metadata).

    It sits beside the original so that the workflow-relative paths in its records hold.
    """
    workdir, snakefile, _ = tiny_run
    destination = workdir.parent / name
    shutil.copytree(workdir, destination, symlinks=True)
    configs = (tiny_run[2][0], destination / "server.yaml")
    return destination, snakefile, configs


DETERMINISTIC = ("results/data/**/*", "results/bayesnet/*.json", "results/regression/*.npz",
                 "results/mixture/*.npz", "results/vae/*/seed42/weights.pt",
                 "results/vae/*/seed42/metrics.json", "results/vae/*/seed42/iwae.json",
                 "results/vae/*/seed42/iwae_per_image.npz", "results/vae/*/*.npz",
                 "results/figures/*.png", "results/figures/*.pdf", "results/figures/*.svg")
REPORT_CHAIN = {("report_values", ""), ("render_report", ""), ("report_html", ""),
                ("report_pdf", ""), ("all", "")}


def planned_jobs(workdir: Path, snakefile: Path, configs, *args: str) -> Counter:
    """(rule, wildcards) of every job a dry run schedules."""
    output = snakemake(workdir, "-n", *args, snakefile=snakefile, configfiles=configs).stdout
    jobs: Counter = Counter()
    rule = None
    for line in output.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line.strip()):
            if rule:
                jobs[(rule, "")] += 1
            rule = match.group(1)
        elif rule and (match := re.match(r"^wildcards: (.*)$", line.strip())):
            jobs[(rule, match.group(1))] += 1
            rule = None
    if rule:
        jobs[(rule, "")] += 1
    return jobs


def digests(workdir: Path) -> dict[str, str]:
    files = {path for pattern in DETERMINISTIC for path in workdir.glob(pattern) if path.is_file()}
    return {str(path.relative_to(workdir)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(files)}


# Acting as other Unix users (a shared output cache): root ignores permissions, so such tests
# run commands as uid 1000 and as `nobody` through setpriv.
USERS = {"a": 1000, "b": 65534}


def python_for_other_users(base: Path, src: Path) -> Path:
    """A Python that other users may run, in `base` (a folder they may enter): the system's
    interpreter with this venv's libraries and `src` on its path (root's own venv lives where
    other users cannot go). Returns its executable."""
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(base / "venv")],
                   check=True)
    site = next((base / "venv" / "lib").glob("python3*/site-packages"))
    (site / "prml.pth").write_text("\n".join([str(src), *_libraries()]) + "\n")
    return base / "venv" / "bin" / "python"


def _libraries() -> list[str]:
    return [path for path in sys.path if path.endswith("site-packages") and os.path.isdir(path)]


def _reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner may read `path` (every folder above it open)."""
    path = path.resolve()
    return bool(path.stat().st_mode & stat.S_IROTH) and all(
        folder.stat().st_mode & stat.S_IXOTH for folder in path.parents)


def can_act_as_other_users() -> bool:
    """Root with setpriv, a system Python of this one's version, and this venv's libraries
    where other users may read them."""
    system = Path("/usr/bin/python3")
    if os.getuid() != 0 or shutil.which("setpriv") is None or not system.exists():
        return False
    version = subprocess.run([str(system), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    return (version == str(sys.version_info[:2])
            and all(_reachable_by_others(Path(path)) for path in _libraries()))


def as_user(user: str, umask: int, command: list[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 900, **popen: object) -> subprocess.CompletedProcess[str]:
    """Run `command` as test user `user` ("a" or "b") with `umask`, in `cwd` (also its HOME)."""
    uid = str(USERS[user])
    environment = {"PATH": os.environ["PATH"], "HOME": str(cwd), **(env or {})}
    return subprocess.run(
        ["setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", "sh", "-c",
         f'umask {umask:03o} && exec "$@"', "sh", *command],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout, **popen)
# ------------------------------------------------------------------ the RO-Crate

PROVENANCE_PROFILE = "https://w3id.org/ro/wfrun/provenance/0.5"
CRATE_LEFT_OUT = ("logs", "benchmarks", "checkpoints")


def as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def ids(value) -> set[str]:
    return {entity.id for entity in as_list(value)}


def check_provenance_run_crate(results: Path):
    """What the Provenance Run Crate profile asks of results/ro-crate-metadata.json, read back
    with the rocrate library; returns the crate."""
    from rocrate.rocrate import ROCrate

    crate = ROCrate(results)
    graph = json.loads((results / "ro-crate-metadata.json").read_text())["@graph"]
    assert len({entity["@id"] for entity in graph}) == len(graph), "duplicate @id"
    root = next(entity for entity in graph if entity["@id"] == "./")
    assert PROVENANCE_PROFILE in {profile["@id"] for profile in root["conformsTo"]}
    records = [json.loads(path.read_text())
               for path in sorted((results / "provenance").rglob("*.json"))]
    assert records

    # The workflow run: instrument the main entity, from the first job start to the last end.
    workflow = crate.mainEntity
    assert workflow.id == "code/workflow/Snakefile"
    assert (results / workflow.id).is_file()
    assert {"File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"} <= set(
        as_list(workflow.type))
    actions = crate.get_by_type("CreateAction")
    runs = [a for a in actions if a["instrument"].id == workflow.id]
    assert len(runs) == 1
    run = runs[0]
    assert run["startTime"] == min(r["time"]["start"] for r in records)
    assert run["endTime"] == max(r["time"]["end"] for r in records)
    assert run.id in ids(crate.root_dataset["mentions"])
    jobs = [a for a in actions if a is not run]
    assert len(jobs) == len(records)
    assert all(job.id.startswith("#job/") and " " not in job.id for job in jobs)
    made = {entity.id for job in jobs for entity in as_list(job["result"])}
    assert not ids(run["object"]) & made, "a workflow input was made by a job"
    assert ids(run["result"]) <= made

    # One HowToStep per rule, in the workflow's steps, each naming its rule's scripts.
    steps = {step.id: step for step in as_list(workflow["step"])}
    rules = {record["rule"] for record in records}
    assert set(steps) == {f"#step/{rule}" for rule in rules}
    for step in steps.values():
        assert "HowToStep" in as_list(step.type)
        assert ids(step["workExample"]) <= ids(workflow["hasPart"])

    # One ControlAction per job: instrument its rule's step, object the job.
    controls = crate.get_by_type("ControlAction")
    assert len(controls) == len(jobs)
    for job in jobs:
        pointing = [c for c in controls if ids(c["object"]) == {job.id}]
        assert len(pointing) == 1, job.id
        step = pointing[0]["instrument"]
        assert step.id == f"#step/{job.id.split('/')[1]}"
        assert job["instrument"].id in ids(step["workExample"])
        assert job["startTime"] <= job["endTime"]
        assert job["actionStatus"] == "http://schema.org/CompletedActionStatus"

    # A rule's step comes after the steps of the rules whose files it reads.
    maker = {entity.id: job for job in jobs for entity in as_list(job["result"])}
    position = {control["object"].id: control["instrument"]["position"] for control in controls}
    for job in jobs:
        for entity in as_list(job["object"]):
            source = maker.get(entity.id)
            if source is not None and source.id.split("/")[1] != job.id.split("/")[1]:
                assert position[job.id] > position[source.id], (job.id, source.id)

    # The engine run: Snakemake with its version; the step runs in, the workflow run out.
    organize = crate.get_by_type("OrganizeAction")
    assert len(organize) == 1
    engine = organize[0]["instrument"]
    assert "SoftwareApplication" in as_list(engine.type)
    assert engine["name"] == "snakemake"
    assert engine["version"] in {r["software"]["snakemake"] for r in records}
    assert engine.id.startswith("https://pypi.org/project/snakemake/")
    assert organize[0]["result"].id == run.id
    assert ids(organize[0]["object"]) == {control.id for control in controls}

    # Every file under results/ but logs, benchmarks and checkpoints is a File with its
    # SHA-256 and media type: artifacts, records, the README and the workflow's code.
    files = {unquote(entity.id): entity for entity in crate.data_entities}
    walked = {path.relative_to(results).as_posix(): path for path in results.rglob("*")
              if path.is_file() and path.relative_to(results).parts[0] not in CRATE_LEFT_OUT
              and path.name != "ro-crate-metadata.json"}
    assert walked
    assert walked.keys() <= files.keys(), walked.keys() - files.keys()
    for name, path in walked.items():
        assert "File" in as_list(files[name].type), name
        assert files[name]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), name
        assert "/" in files[name]["encodingFormat"], name
    assert not {name for name in files if name.split("/")[0] in CRATE_LEFT_OUT}

    # Each figure is the result of exactly one job.
    for figure in (results / "figures").glob("*.png"):
        makers = [job for job in jobs if f"figures/{figure.name}" in ids(job["result"])]
        assert len(makers) == 1, figure.name
    return crate


# ------------------------------------------------------------------ the local SLURM cluster

# Why the cluster tests cannot run here, if they cannot (.ci/slurm-up starts the cluster).
CLUSTER_MISSING = [
    reason
    for reason, missing in (
        ("sbatch is not on PATH", shutil.which("sbatch") is None),
        ("PRML_CLUSTER_TESTS is not 1", os.environ.get("PRML_CLUSTER_TESTS") != "1"),
    )
    if missing
]
# The marks of every cluster test module (`pytestmark = CLUSTER_TEST`).
CLUSTER_TEST = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        bool(CLUSTER_MISSING),
        reason=f"needs the local SLURM test cluster ({'; '.join(CLUSTER_MISSING)}): "
        "run .ci/slurm-up, then PRML_CLUSTER_TESTS=1 pytest -m cluster",
    ),
]
# The profile's 40 s before the first status check suits a shared cluster; the test cluster is
# idle, so poll sooner (MinJobAge there is far above 3 x 5 s, as the squeue route needs).
FAST_POLLING = ("--slurm-init-seconds-before-status-checks", "5",
                "--seconds-between-status-checks", "5")
