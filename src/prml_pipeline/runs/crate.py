"""Export the provenance records as a Provenance Run Crate (Workflow Run RO-Crate 0.5).

    prml crate [results/] [--check]

writes results/ro-crate-metadata.json with the `rocrate` library, following the Provenance
Run Crate profile (https://w3id.org/ro/wfrun/provenance/0.5); `--check` then runs
`rocrate-validator` on it offline (profile `provenance-run-crate-0.5`, see crate_check.py).
The crate holds:

- the workflow's own files (Snakefile, rule files, schema, scripts, package modules, config,
  licence) copied into results/code/; the main entity is code/workflow/Snakefile, a
  ComputationalWorkflow whose `hasPart` lists the scripts its jobs ran and whose `step` lists
  one HowToStep per rule (`#step/<rule>`, `workExample` its scripts, `position` its place in
  the rule order);
- results/README.md, the crate in a few sentences for people;
- every recorded artifact under results/, and every provenance record, as a File with its
  SHA-256 and media type (logs, benchmarks and checkpoints stay out);
- one CreateAction per job (`#job/<rule>/<wildcards>`): `instrument` the job's script,
  `object` the files it read, `result` the files it wrote and its record, with start and end
  times, the machine (`location`) and the commit; for a training job, what it used of the
  machine as `resourceUsage` (workflow-run ro-terms): one PropertyValue per measured figure
  of its record's `hardware`, with `unitText` and a QUDT `unitCode` (docs/cluster.md);
- one ControlAction per job (`#control/...`): `instrument` its rule's step, `object` its
  CreateAction;
- one CreateAction for the workflow run (`#run`): `instrument` the workflow, `object` the
  inputs no job made (code, the downloaded sources), `result` the outputs no job read (the
  report), from the earliest job start to the latest job end;
- one OrganizeAction (`#organize`), the engine run: `instrument` Snakemake at its version,
  `object` the ControlActions, `result` the workflow run;
- the libraries each script ran with, as the records give them (Python, torch, numpy, ...):
  SoftwareApplications named by their release pages, the scripts' `softwareRequirements`;
- the authors, publisher, licence and home page of the config's `metadata` section; the
  authors are every action's `agent`.

The workflow writes it after every successful run (`onsuccess`). Paths in the records are
relative to the working directory, the folder holding results/; the workflow's folder is
where the records place its scripts.
"""

from __future__ import annotations

import mimetypes
import os
import shutil
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from prml_pipeline.artifacts import atomic_open, to_json_text
from prml_pipeline.runs.hardware import usage_items
from prml_pipeline.runs.records import current_and_leftover, load_records, sha256_file

METADATA = "ro-crate-metadata.json"
README = "README.md"
# The crate's folder holding a copy of the workflow's own files.
CODE = "code"
# What the crate adds to results/ beside the artifacts (no job records them).
WRITTEN = (METADATA, README, CODE)
# The workflow's files, relative to its folder: definition, code, settings and licence.
CODE_FILES = ("Snakefile", "workflow/**/*", "scripts/**/*.py", "src/prml_pipeline/**/*.py",
              "config/*", "report/*", "LICENSE", "pyproject.toml", "environment.yml")
MAIN_WORKFLOW = "workflow/Snakefile"
PROFILES = {
    "process": "https://w3id.org/ro/wfrun/process/0.5",
    "workflow": "https://w3id.org/ro/wfrun/workflow/0.5",
    "provenance": "https://w3id.org/ro/wfrun/provenance/0.5",
    "wroc": "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
}
# The metadata file conforms to RO-Crate 1.3 (the `rocrate` library's context) and to 1.1,
# the base of the Workflow Run Crate profiles, whose rules it also follows.
RO_CRATE_VERSIONS = ("https://w3id.org/ro/crate/1.3", "https://w3id.org/ro/crate/1.1")
# The 1.3 context reads "ComputationalWorkflow" as bioschemas.org/terms/...; the profiles,
# written for 1.1, as bioschemas.org/...: the main workflow carries both types.
BIOSCHEMAS_WORKFLOW = "https://bioschemas.org/ComputationalWorkflow"
BIOSCHEMAS_PROFILE = "https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE"
SNAKEMAKE_LANGUAGE = "https://w3id.org/workflowhub/workflow-ro-crate#snakemake"
PYTHON_LANGUAGE = "https://w3id.org/workflowhub/workflow-ro-crate#python"
COMPLETED = "http://schema.org/CompletedActionStatus"
RESOURCE_USAGE = {"resourceUsage": "https://w3id.org/ro/terms/workflow-run#resourceUsage"}
# QUDT units of the measured figures (the profile recommends a unitCode for each).
UNIT_CODES = {"s": "SEC", "MiB": "MebiBYTE", "%": "PERCENT", "W": "W", "J": "J"}
# Media types the standard library does not know, or guesses differently across hosts.
MEDIA_TYPES = {
    ".npz": "application/zip", ".pt": "application/zip", ".gz": "application/gzip",
    ".md": "text/markdown", ".py": "text/x-python", ".smk": "text/x-python",
    ".yaml": "application/yaml", ".yml": "application/yaml", ".json": "application/json",
    ".tsv": "text/tab-separated-values", ".rst": "text/x-rst", ".toml": "application/toml",
    ".css": "text/css", ".html": "text/html", ".png": "image/png", ".pdf": "application/pdf",
}


def media_type(path: str) -> str:
    """The file's media type: a Snakefile is Python, a licence text, unknown bytes octets."""
    name = Path(path).name
    if name == "Snakefile":
        return "text/x-python"
    if name in ("LICENSE", "COPYING"):
        return "text/plain"
    return (MEDIA_TYPES.get(Path(name).suffix.lower()) or mimetypes.guess_type(name)[0]
            or "application/octet-stream")


def _in_crate(path: str, results: Path) -> str | None:
    """The crate-relative id of a path the records give relative to the working directory
    (the folder that holds `results`, whatever the current one is), or None outside it."""
    base = Path(os.path.abspath(results))
    relative = os.path.relpath(os.path.normpath(base.parent / path), base)
    return None if relative == ".." or relative.startswith(("../", ".." + os.sep)) else relative


def _job_key(record: dict[str, Any]) -> str:
    """A job's rule and wildcards as its actions' ids spell them, an IRI without spaces:
    "train_vae/model=small,seed=42"."""
    wildcards = ",".join(f"{k}={v}" for k, v in record.get("wildcards", {}).items())
    return quote(f"{record['rule']}/{wildcards or record['rule']}", safe="/=,")


def _job_name(record: dict[str, Any]) -> str:
    wildcards = ", ".join(f"{k}={v}" for k, v in record.get("wildcards", {}).items())
    return f"rule {record['rule']}" + (f" ({wildcards})" if wildcards else "")


def _single(values: list[Any]) -> Any:
    """One value as itself, several as a list (RO-Crate's compact form)."""
    return values[0] if len(values) == 1 else values


def _code_prefix(records: list[dict[str, Any]]) -> str:
    """How inputs spell the workflow's folder ("../wf/" under `--directory`; usually "").

    Scripts are recorded relative to the workflow's folder, other inputs relative to the
    working directory: a rule that lists its script as an input shows the difference.
    """
    found: Counter[str] = Counter()
    for record in records:
        script = os.path.normpath(record["script"]["path"])
        for path in map(os.path.normpath, record["inputs"]):
            if path == script:
                found[""] += 1
            elif path.endswith("/" + script):
                found[path[: -len(script)]] += 1
    return found.most_common(1)[0][0] if found else ""


def workflow_folder(results: Path, records: list[dict[str, Any]] | None = None) -> Path:
    """The folder of the workflow that made `results` (it holds workflow/Snakefile): where
    the records place it, else the one this package belongs to."""
    if records is None:
        records = load_records(Path(results) / "provenance")
    candidates = (Path(os.path.abspath(results)).parent / _code_prefix(records),
                  Path(__file__).resolve().parents[3])
    for folder in candidates:
        if (folder / MAIN_WORKFLOW).is_file():
            return folder.resolve()
    raise SystemExit(f"crate: no {MAIN_WORKFLOW} where the records of {results} place the "
                     "workflow, nor beside this package: name its folder with --workflow")


def code_files(root: Path) -> list[str]:
    """The workflow's own files under `root`, relative to it, sorted."""
    found = {path for pattern in CODE_FILES for path in Path(root).glob(pattern)
             if path.is_file() and "__pycache__" not in path.parts}
    return sorted(path.relative_to(root).as_posix() for path in found)


def copy_code(root: Path, results: Path) -> None:
    """Put a copy of the workflow's files in results/code/, replacing an earlier one whole."""
    target = Path(results) / CODE
    fresh, old = target.with_name(f".{CODE}.new"), target.with_name(f".{CODE}.old")
    shutil.rmtree(fresh, ignore_errors=True)
    for name in code_files(root):
        (fresh / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(root) / name, fresh / name)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def code_is_current(root: Path, results: Path) -> bool:
    """Whether results/code/ holds exactly the workflow's files as they are now."""
    target = Path(results) / CODE
    names = code_files(root)
    copied = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    return copied == names and all(
        (target / name).read_bytes() == (Path(root) / name).read_bytes() for name in names)


def load_metadata(root: Path, configfiles: Iterable[Path] = ()) -> dict[str, Any]:
    """The `metadata` settings: the workflow's defaults, each config file's over them."""
    metadata: dict[str, Any] = {}
    for path in [Path(root) / "config" / "config.yaml", *map(Path, configfiles)]:
        settings = yaml.safe_load(path.read_text()) or {}
        metadata.update(settings.get("metadata") or {} if isinstance(settings, dict) else {})
    return metadata


def _project_version(root: Path) -> str:
    """The workflow's version: its pyproject.toml's."""
    try:
        return tomllib.loads((Path(root) / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unversioned"


def _release_page(name: str, version: str) -> tuple[str, str]:
    """The (id, url) of a release: its PyPI page (python.org's for Python); a local build
    ("2.13.0+cpu") is a fragment of its public release's page."""
    public, _, local = version.partition("+")
    fragment = f"#{quote(local)}" if local else ""
    if name == "python":
        return (f"https://www.python.org/downloads/release/python-{public.replace('.', '')}/"
                f"{fragment}", "https://www.python.org/")
    return (f"https://pypi.org/project/{name}/{public}/{fragment}",
            f"https://pypi.org/project/{name}/")


class _Builder:
    """One crate under construction: adds each entity once, by id."""

    def __init__(self, results: Path, root: Path, records: list[dict[str, Any]],
                 metadata: Mapping[str, Any]):
        self.results, self.root, self.records = results, root, records
        self.crate = ROCrate()
        self.version = _project_version(root)
        self.workdir = Path(os.path.abspath(results)).parent
        self.files: dict[str, Any] = {}
        authors = self._people(metadata)
        # Who ran the jobs: the authors the settings name.
        self.agent = {"agent": _single(authors)} if authors else {}
        # Where the workflow is published: the `url` of it and of its scripts.
        self.url = {"url": metadata["url"]} if metadata.get("url") else {}
        # Crate ids of what each job made (outputs and record), with the digests it vouches.
        self.record_ids = [os.path.relpath(r["_path"], results) for r in records]
        self.producer: dict[str, int] = {}
        self.digests: dict[str, str] = {}
        for index, record in enumerate(records):
            self.producer[self.record_ids[index]] = index
            for path, digest in record["outputs"].items():
                if (crate_id := _in_crate(path, results)) is not None:
                    self.producer[crate_id] = index
                    self.digests[crate_id] = digest

    def add(self, crate_id: str, **properties: Any) -> Any:
        """A contextual entity, or the one already under that id."""
        return self.crate.dereference(crate_id) or self.crate.add(
            ContextEntity(self.crate, crate_id, properties=properties))

    def _party(self, spec: Mapping[str, Any], kind: str) -> Any:
        """A Person or Organization of the settings (with its affiliation), by its ORCID or
        URL, else by name."""
        crate_id = spec.get("id") or "#" + quote("-".join(spec["name"].lower().split()))
        extra = {**({"url": spec["url"]} if spec.get("url") else {}), **(
            {"affiliation": self._party(spec["affiliation"], "Organization")}
            if spec.get("affiliation") else {})}
        return self.add(crate_id, **{"@type": spec.get("type", kind), "name": spec["name"],
                                     **extra})

    def _people(self, metadata: Mapping[str, Any]) -> list[Any]:
        """Root author, publisher and licence; returns the authors."""
        root = self.crate.root_dataset
        authors = [self._party(spec, "Person") for spec in metadata.get("authors") or []]
        if authors:
            root["author"] = _single(authors)
        if metadata.get("publisher"):
            root["publisher"] = self._party(metadata["publisher"], "Organization")
        if spdx := metadata.get("license"):
            root["license"] = self.add(f"https://spdx.org/licenses/{spdx}", **{
                "@type": "CreativeWork", "name": f"{spdx} licence", "identifier": spdx,
                "url": f"https://spdx.org/licenses/{spdx}.html"})
        return authors

    def data_file(self, crate_id: str, digest: str | None = None, **properties: Any) -> Any:
        """A file under results/ (an artifact, a record, a copied code file)."""
        if crate_id not in self.files:
            target = self.results / crate_id
            digest = self.digests.get(crate_id, digest)
            present = target.is_file()  # a record may name a script the workflow no longer has
            sizes = {"contentSize": os.path.getsize(target)} if present else {}
            self.files[crate_id] = self.crate.add_file(dest_path=crate_id, properties={
                **({"sha256": digest or sha256_file(target)} if digest or present else {}),
                "encodingFormat": media_type(crate_id), **properties, **sizes})
        return self.files[crate_id]

    def code(self, relative: str, **properties: Any) -> Any:
        """A file of the workflow (`relative` to its folder), as copied into code/."""
        return self.data_file(f"{CODE}/{relative}", **properties)

    def artifact(self, path: str, digest: str) -> Any | None:
        """What a record names: an artifact under results/ or a file of the workflow; None
        for anything else (a file that is gone, a folder outside both)."""
        crate_id = _in_crate(path, self.results)
        if crate_id is not None:
            return self.data_file(crate_id, digest) if (self.results / crate_id).is_file() \
                else None
        name = os.path.relpath(self.workdir / path, self.root)
        if name.startswith("..") or not (self.results / CODE / name).is_file():
            return None
        return self.code(name)

    def application(self, name: str, version: str) -> Any:
        """A library (or Python, or Snakemake) at one version, named by its release page."""
        crate_id, url = _release_page(name, version)
        return self.add(crate_id, **{"@type": "SoftwareApplication", "name": name,
                                     "version": version, "url": url})

    def tool(self, record: dict[str, Any]) -> Any:
        """A job's script: the tool its rule's step runs, with the libraries it ran with."""
        script = record["script"]
        entity = self.code(os.path.normpath(script["path"]), **{
            "@type": ["File", "SoftwareSourceCode", "SoftwareApplication"],
            "name": Path(script["path"]).name, "version": self.version,
            "programmingLanguage": {"@id": PYTHON_LANGUAGE}, **self.url})
        if script.get("git_blob"):
            entity["identifier"] = f"git blob {script['git_blob']}"
        used = [self.application(name, version) for name, version
                in sorted(record.get("software", {}).items()) if version and name != "snakemake"]
        known = entity.get("softwareRequirements") or []
        known = known if isinstance(known, list) else [known]
        entity["softwareRequirements"] = list({e.id: e for e in [*known, *used]}.values())
        return entity


def _add_root(builder: _Builder) -> Any:
    """The root dataset, the metadata file's profiles, the README and the main workflow;
    returns the workflow."""
    crate, root = builder.crate, builder.crate.root_dataset
    crate.metadata["conformsTo"] = [{"@id": url}
                                    for url in (*RO_CRATE_VERSIONS, PROFILES["wroc"])]
    root["name"] = "Results of the prml-pipeline workflow"
    root["description"] = (
        "Artifacts of one workspace of the PRML sheet pipeline: the workflow run, one step per "
        "Snakemake rule and one CreateAction per job, saying which script, inputs, settings "
        "and software made each file.")
    if builder.records:  # when the newest artifact was made: the same records, the same crate
        root["datePublished"] = max(r["time"]["end"] for r in builder.records)
    root["conformsTo"] = [builder.add(url, **{"@type": "CreativeWork",
                                              "name": url.rsplit("/", 2)[-2]})
                          for url in PROFILES.values()]
    builder.data_file(README, about=root, name="About this crate")
    workflow = builder.code(MAIN_WORKFLOW, **{
        "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo",
                  BIOSCHEMAS_WORKFLOW],
        "name": "prml-pipeline", "version": builder.version,
        "description": "The Snakemake workflow that rebuilds the PRML problem sheet: data, "
                       "analytic results, VAEs, figures and the report.",
        "conformsTo": {"@id": BIOSCHEMAS_PROFILE}, **builder.url,
        "programmingLanguage": builder.add(SNAKEMAKE_LANGUAGE, **{
            "@type": "ComputerLanguage", "name": "Snakemake",
            "url": {"@id": "https://snakemake.github.io"}})})
    builder.add(PYTHON_LANGUAGE, **{"@type": "ComputerLanguage", "name": "Python",
                                    "url": {"@id": "https://www.python.org/"}})
    for key, as_key in (("author", "creator"), ("license", "license")):
        if key in root:
            workflow[as_key] = root[key]
    root["mainEntity"] = workflow
    return workflow


def _job_inputs(builder: _Builder, record: dict[str, Any], workflow_inputs: dict[str, Any],
                read: set[str]) -> list[Any]:
    """What a job read; notes those no job made (the run's inputs) and the artifacts read."""
    inputs = []
    for path, digest in record["inputs"].items():
        if (entity := builder.artifact(path, digest)) is None:
            continue
        inputs.append(entity)
        crate_id = _in_crate(path, builder.results)
        if crate_id is not None:
            read.add(crate_id)
        if crate_id is None or crate_id not in builder.producer:
            workflow_inputs.setdefault(entity.id, entity)
    if url := _source_url(record):
        # The published file a mirror served: named, not claimed to be served there still
        # (a web-based File would ask the crate's checks to reach it).
        source = builder.add(url, **{
            "@type": "CreativeWork", "name": url.rsplit("/", 1)[-1],
            "description": "the published file, as the download job fetched it from a mirror",
            "encodingFormat": media_type(url)})
        inputs.append(source)
        workflow_inputs.setdefault(source.id, source)
    return inputs


def _add_job(builder: _Builder, index: int, workflow_inputs: dict[str, Any],
             read: set[str]) -> Any:
    """The CreateAction of one job, its record among its results."""
    record = builder.records[index]
    inputs = _job_inputs(builder, record, workflow_inputs, read)
    outputs = [builder.artifact(path, digest) for path, digest in record["outputs"].items()]
    host = builder.add(f"#host/{quote(record['machine']['host'])}",
                       **{"@type": "Place", "name": record["machine"]["host"]})
    job = builder.crate.add_action(
        builder.tool(record), identifier=f"#job/{_job_key(record)}", object=inputs,
        result=[output for output in outputs if output is not None], properties={
            "@type": "CreateAction", "name": _job_name(record),
            "startTime": record["time"]["start"], "endTime": record["time"]["end"],
            "actionStatus": COMPLETED, "description": _job_description(record),
            "location": host, **builder.agent})
    job.append_to("result", builder.data_file(
        builder.record_ids[index], sha256_file(record["_path"]),
        name=f"provenance record of {_job_name(record)}", about={"@id": job.id}))
    usage = _resource_usage(builder, record)
    if usage:
        job["resourceUsage"] = usage
    return job


def _resource_usage(builder: _Builder, record: dict[str, Any]) -> list[Any]:
    """One PropertyValue per measured hardware figure the job recorded (training jobs; else
    none), with its unit; what names the hardware (the GPU, driver versions) goes into the
    job's description instead."""
    items = usage_items(record.get("extra", {}).get("hardware"))
    measured = [(key, name, value, unit) for key, name, value, unit in items if unit]
    if measured:
        builder.crate.metadata.extra_terms.update(RESOURCE_USAGE)
    return [builder.add(f"#usage/{_job_key(record)}/{key}", **{
        "@type": "PropertyValue", "name": name, "propertyID": key, "value": value,
        "unitText": unit, "unitCode": f"http://qudt.org/vocab/unit/{UNIT_CODES[unit]}"})
        for key, name, value, unit in measured]


def _job_description(record: dict[str, Any]) -> str:
    hardware = [f"{name} {value}" for _, name, value, unit
                in usage_items(record.get("extra", {}).get("hardware")) if not unit]
    return (f"commit {record['code']['commit']}"
            + (" (with uncommitted changes)" if record["code"]["dirty"] else "")
            + f"; config subset SHA-256 {record['config_subset_sha256']}"
            + "".join(f"; {item}" for item in hardware))


def _source_url(record: dict[str, Any]) -> str | None:
    """The URL a download job fetched its file from, when it came from a mirror."""
    source = str(record.get("extra", {}).get("source", ""))
    if not source.startswith("mirror "):
        return None
    url = source.removeprefix("mirror ").strip()
    return url if url.startswith(("http://", "https://")) else None


def _rule_positions(builder: _Builder) -> dict[str, int]:
    """Each rule's place in an execution order: a rule comes after every rule it reads from.

    Empty when the rules' dependencies form a cycle (a position is optional).
    """
    records = builder.records
    rules = list(dict.fromkeys(r["rule"] for r in records))  # in order of first start
    after: dict[str, set[str]] = {rule: set() for rule in rules}
    for record in records:
        for path in record["inputs"]:
            source = builder.producer.get(_in_crate(path, builder.results) or "")
            if source is not None and records[source]["rule"] != record["rule"]:
                after[record["rule"]].add(records[source]["rule"])
    order: list[str] = []
    while len(order) < len(rules):
        ready = [rule for rule in rules if rule not in order and after[rule] <= set(order)]
        if not ready:
            return {}
        order.append(ready[0])
    return {rule: position for position, rule in enumerate(order)}


def _add_steps(builder: _Builder, workflow: Any, tools: list[Any]) -> dict[str, Any]:
    """One HowToStep per rule, in an order where each rule follows the rules it reads from;
    the figure rule runs one module per figure, so its step lists them all."""
    positions = _rule_positions(builder)
    rules = sorted(dict.fromkeys(r["rule"] for r in builder.records),
                   key=lambda rule: positions.get(rule, 0))
    steps = {}
    for rule in rules:
        scripts = list({tool.id: tool for tool, record in zip(tools, builder.records,
                                                              strict=True)
                        if record["rule"] == rule}.values())
        steps[rule] = builder.add(f"#step/{rule}", **{
            "@type": "HowToStep", "name": f"rule {rule}", "workExample": _single(scripts),
            **({"position": positions[rule]} if rule in positions else {})})
    workflow["step"] = list(steps.values())
    workflow["hasPart"] = list({tool.id: tool for tool in tools}.values())
    return steps


def _add_run(builder: _Builder, workflow: Any, jobs: list[Any], steps: dict[str, Any],
             workflow_inputs: dict[str, Any], read: set[str]) -> list[Any]:
    """The ControlAction of each job, the workflow run and the engine's OrganizeAction;
    returns every action, for the root's `mentions`."""
    records, done = builder.records, {**builder.agent, "actionStatus": COMPLETED}
    controls = [builder.add(f"#control/{_job_key(record)}", **{
        "@type": "ControlAction", "name": f"orchestrate {_job_name(record)}",
        "description": f"Snakemake runs a job of rule {record['rule']}",
        "instrument": steps[record["rule"]], "object": job, **done,
        "startTime": record["time"]["start"], "endTime": record["time"]["end"]})
        for job, record in zip(jobs, records, strict=True)]
    final = [builder.files[crate_id] for record in records for path in record["outputs"]
             if (crate_id := _in_crate(path, builder.results)) in builder.files
             and crate_id not in read]
    start = min((r["time"]["start"] for r in records), default=None)
    end = max((r["time"]["end"] for r in records), default=None)
    times = {**({"startTime": start} if start else {}), **({"endTime": end} if end else {})}
    run = builder.add("#run", **{
        "@type": "CreateAction", "name": "Run of the prml-pipeline workflow",
        "description": "Every job with a record here: what no job made went in, what no job "
                       "read came out",
        "instrument": workflow, "object": list(workflow_inputs.values()),
        "result": list({entity.id: entity for entity in final}.values()), **done, **times})
    engine = Counter(r.get("software", {}).get("snakemake") for r in records).most_common()
    version = next((v for v, _ in engine if v), None)
    organize = builder.add("#organize", **{
        "@type": "OrganizeAction", "name": f"Run of Snakemake {version or ''}".strip(),
        "description": "Snakemake scheduling the workflow's jobs",
        "object": controls, "result": run, **done, **times})
    if version:
        organize["instrument"] = builder.application("snakemake", version)
    return [run, organize, *controls, *jobs]


def build_crate(results: Path, root: Path | None = None,
                metadata: Mapping[str, Any] | None = None) -> ROCrate:
    """The crate of `results`, whose code/ and README.md are written: `root` is the
    workflow's folder, `metadata` the settings naming authors, publisher and licence."""
    results = Path(results)
    # The jobs the current report was built from: an earlier configuration's are no part of it.
    records = sorted(current_and_leftover(load_records(results / "provenance"))[0],
                     key=lambda r: (r["time"]["start"], r["_path"]))
    root = Path(root) if root is not None else workflow_folder(results, records)
    metadata = load_metadata(root) if metadata is None else metadata
    builder = _Builder(results, root, records, metadata)
    workflow = _add_root(builder)
    tools = [builder.tool(record) for record in records]  # typed before the plain files
    for name in code_files(results / CODE):
        builder.code(name)
    workflow_inputs: dict[str, Any] = {}  # what no job made: code, downloaded sources
    read: set[str] = set()  # crate ids of the artifacts some job read
    jobs = [_add_job(builder, index, workflow_inputs, read) for index in range(len(records))]
    steps = _add_steps(builder, workflow, tools)
    builder.crate.root_dataset["mentions"] = _add_run(
        builder, workflow, jobs, steps, workflow_inputs, read)
    return builder.crate


def _readme(jobs: int, version: str, metadata: Mapping[str, Any]) -> str:
    authors = ", ".join(a["name"] for a in metadata.get("authors") or []) or "not named"
    return (
        "# Results of the prml-pipeline workflow\n\n"
        f"This folder is a Provenance Run Crate ({PROFILES['provenance']}): `{METADATA}` "
        f"describes the {jobs} jobs that made its files, each with its script, inputs, "
        "outputs, settings and software. `provenance/` holds each job's record and "
        f"`{CODE}/` the workflow that ran them (`{CODE}/{MAIN_WORKFLOW}`, version {version})."
        f"\n\nAuthors: {authors}. Licence: {metadata.get('license') or 'not named'}.\n\n"
        "`prml audit results` checks every file against its record, and "
        "`prml crate results --check` the crate against its profile.\n")


def _write_if_changed(path: Path, text: str) -> None:
    """Write `text` atomically unless the file already holds it (its time then stays)."""
    if not path.is_file() or path.read_text() != text:
        with atomic_open(path) as handle:
            handle.write(text.encode())


def write_crate(results: Path, root: Path | None = None,
                metadata: Mapping[str, Any] | None = None) -> Path:
    """Write results/ro-crate-metadata.json, with results/README.md and the workflow's files
    in results/code/ (the artifacts stay where they are); a file already up to date is left
    alone. Without `metadata`, the settings come from the workflow's config/config.yaml and
    the working directory's."""
    results = Path(results)
    records = current_and_leftover(load_records(results / "provenance"))[0]
    root = Path(root) if root is not None else workflow_folder(results, records)
    if metadata is None:
        user = Path(os.path.abspath(results)).parent / "config" / "config.yaml"
        metadata = load_metadata(root, [user] if user.is_file() else [])
    if not code_is_current(root, results):
        copy_code(root, results)
    _write_if_changed(results / README,
                      _readme(len(records), _project_version(root), metadata))
    crate = build_crate(results, root, metadata).metadata.generate()
    _write_if_changed(results / METADATA, to_json_text(crate))
    return results / METADATA


def refresh_crate(results: Path, root: Path | None = None,
                  metadata: Mapping[str, Any] | None = None) -> Path | None:
    """After a run: bring the crate up to date, if there are records to describe."""
    if not any((Path(results) / "provenance").rglob("*.json")):
        return None
    return write_crate(results, root, metadata)
