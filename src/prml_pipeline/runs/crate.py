"""Export the provenance records as a Workflow Run RO-Crate (Provenance Run Crate profile).

    python -m prml_pipeline.crate [results/]

writes results/ro-crate-metadata.json with the `rocrate` library, following the Provenance
Run Crate profile (https://w3id.org/ro/wfrun/provenance/0.5):

- every recorded artifact under results/, and every provenance record, as a File with its
  SHA-256 (logs, benchmarks and checkpoints stay out);
- the workflow (the Snakefile) as the crate's main entity, a ComputationalWorkflow and HowTo
  whose `hasPart` lists the rules' scripts and whose `step` lists one HowToStep per rule
  (`#step/<rule>`, `workExample` its script, `position` its place in the rule order);
- one CreateAction per job (`#job/<rule>/<wildcards>`): `instrument` the job's script,
  `object` the files it read, `result` the files it wrote and its record, with start and end
  times, the machine and the software versions;
- for a training job, what it used of the machine as the CreateAction's `resourceUsage`
  (the workflow-run ro-terms property, https://w3id.org/ro/terms/workflow-run#resourceUsage):
  one PropertyValue per figure of its runinfo's `hardware` (`#usage/<rule>/<wildcards>/<key>`,
  `propertyID` the key, `value`, `unitText`), see docs/cluster.md;
- one ControlAction per job (`#control/...`): `instrument` its rule's step, `object` its
  CreateAction;
- one CreateAction for the workflow run (`#run`): `instrument` the Snakefile, `object` the
  inputs no job made (code, the downloaded sources), `result` the outputs no job read (the
  report), from the earliest job start to the latest job end;
- one OrganizeAction (`#organize`), the engine run: `instrument` Snakemake with its version,
  `object` the ControlActions, `result` the workflow run.

The workflow runs it after every successful run (`onsuccess` in the Snakefile); it needs
nothing but the records. Paths in the records are relative to the workflow directory, the
folder holding results/.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from prml_pipeline.runs.hardware import usage_items
from prml_pipeline.runs.records import current_and_leftover, load_records, sha256_file

METADATA = "ro-crate-metadata.json"
PROFILES = {
    "process": "https://w3id.org/ro/wfrun/process/0.5",
    "workflow": "https://w3id.org/ro/wfrun/workflow/0.5",
    "provenance": "https://w3id.org/ro/wfrun/provenance/0.5",
    "wroc": "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
}
SNAKEMAKE_LANGUAGE = "https://w3id.org/workflowhub/workflow-ro-crate#snakemake"
COMPLETED = {"@id": "http://schema.org/CompletedActionStatus"}
RESOURCE_USAGE = {"resourceUsage": "https://w3id.org/ro/terms/workflow-run#resourceUsage"}


def _in_crate(path: str, results: Path) -> str | None:
    """The crate-relative id of a path the records give relative to the workflow directory.

    The workflow directory is the folder that holds `results`, whatever the current one is.
    """
    base = Path(os.path.abspath(results))
    relative = os.path.relpath(os.path.normpath(base.parent / path), base)
    return None if relative == ".." or relative.startswith(("../", ".." + os.sep)) else relative


def _code_id(path: str) -> str:
    """Code lives beside results/, in the workflow's repository: a local id names it."""
    return f"#code/{path}"


def _wildcards(record: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in record.get("wildcards", {}).items())


def _job_key(record: dict[str, Any]) -> str:
    """A job's rule and wildcards, as its actions' ids spell them: "train_vae/model=small"."""
    return f"{record['rule']}/{_wildcards(record) or record['rule']}"


def _job_name(record: dict[str, Any]) -> str:
    wildcards = _wildcards(record)
    return f"rule {record['rule']}" + (f" ({wildcards})" if wildcards else "")


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


def _source_url(record: dict[str, Any]) -> str | None:
    """The URL a download job fetched its file from, when it came from a mirror."""
    source = str(record.get("extra", {}).get("source", ""))
    if not source.startswith("mirror "):
        return None
    url = source.removeprefix("mirror ").strip()
    return url if url.startswith(("http://", "https://")) else None


def _rule_positions(records: list[dict[str, Any]], producer: dict[str, int],
                    results: Path) -> dict[str, int]:
    """Each rule's place in an execution order: a rule comes after every rule it reads from.

    `producer` maps crate ids to the index of the record that made them. Empty when the
    rules' dependencies form a cycle (a position is optional).
    """
    rules = list(dict.fromkeys(r["rule"] for r in records))  # in order of first start
    after: dict[str, set[str]] = {rule: set() for rule in rules}
    for record in records:
        for path in record["inputs"]:
            source = producer.get(_in_crate(path, results) or "")
            if source is not None and records[source]["rule"] != record["rule"]:
                after[record["rule"]].add(records[source]["rule"])
    order: list[str] = []
    while len(order) < len(rules):
        ready = [rule for rule in rules if rule not in order and after[rule] <= set(order)]
        if not ready:
            return {}
        order.append(ready[0])
    return {rule: position for position, rule in enumerate(order)}


def _resource_usage(crate: ROCrate, record: dict[str, Any]) -> list[Any]:
    """One PropertyValue per hardware figure the job recorded (training jobs; else none)."""
    items = usage_items(record.get("extra", {}).get("hardware"))
    if items:
        crate.metadata.extra_terms.update(RESOURCE_USAGE)
    return [crate.add(ContextEntity(crate, f"#usage/{_job_key(record)}/{key}", properties={
        "@type": "PropertyValue", "name": name, "propertyID": key, "value": value,
        **({"unitText": unit} if unit else {})})) for key, name, value, unit in items]


def build_crate(results: Path) -> ROCrate:
    results = Path(results)
    # The jobs the current report was built from: an earlier configuration's are no part of it.
    records = sorted(current_and_leftover(load_records(results / "provenance"))[0],
                     key=lambda r: (r["time"]["start"], r["_path"]))
    crate = ROCrate()
    crate.root_dataset["name"] = "Results of the prml-pipeline workflow"
    crate.root_dataset["description"] = (
        "Artifacts of one workspace of the PRML sheet pipeline: the workflow run, one step per "
        "Snakemake rule and one CreateAction per job, saying which script, inputs, settings "
        "and software made each file.")
    crate.root_dataset["conformsTo"] = [{"@id": url} for url in PROFILES.values()]
    for url in PROFILES.values():
        crate.add(ContextEntity(crate, url, properties={"@type": "CreativeWork"}))

    workflow = crate.add(ContextEntity(crate, _code_id("Snakefile"), properties={
        "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
        "name": "prml-pipeline Snakefile",
        "programmingLanguage": {"@id": SNAKEMAKE_LANGUAGE}}))
    crate.root_dataset["mainEntity"] = workflow
    crate.add(ContextEntity(crate, SNAKEMAKE_LANGUAGE, properties={
        "@type": "ComputerLanguage", "name": "Snakemake",
        "url": {"@id": "https://snakemake.github.io"}}))
    software: dict[str, Any] = {}

    def application(name: str, version: str | None) -> Any:
        key = f"#software/{name}" + (f"-{version}" if version else "")
        if key not in software:
            software[key] = crate.add(ContextEntity(crate, key, properties={
                "@type": "SoftwareApplication", "name": name,
                **({"version": version} if version else {})}))
        return software[key]

    # Crate ids (paths under results/) of what each job made: its outputs and its record.
    record_ids = [os.path.relpath(record["_path"], results) for record in records]
    producer: dict[str, int] = {}
    digests: dict[str, str] = {}
    for index, record in enumerate(records):
        producer[record_ids[index]] = index
        for path, digest in record["outputs"].items():
            crate_id = _in_crate(path, results)
            if crate_id is not None:
                producer[crate_id] = index
                digests[crate_id] = digest  # the maker's record vouches for the bytes
    prefix = _code_prefix(records)
    files: dict[str, Any] = {}

    def code(path: str, digest: str | None = None, types: tuple[str, ...] = ()) -> Any:
        path = os.path.normpath(path)
        name = path[len(prefix):] if prefix and path.startswith(prefix) else path
        crate_id = _code_id(name)
        if crate_id not in files:
            files[crate_id] = crate.add(ContextEntity(crate, crate_id, properties={
                "@type": ["File", "SoftwareSourceCode", *types], "name": name}))
        if digest and "sha256" not in files[crate_id]:
            files[crate_id]["sha256"] = digest
        return files[crate_id]

    def data_file(crate_id: str, digest: str, **properties: Any) -> Any:
        if crate_id not in files:
            target = results / crate_id
            files[crate_id] = crate.add_file(dest_path=crate_id, properties={
                "sha256": digests.get(crate_id, digest), **properties,
                **({"contentSize": os.path.getsize(target)} if target.is_file() else {})})
        return files[crate_id]

    def artifact(path: str, digest: str) -> Any:
        crate_id = _in_crate(path, results)
        if crate_id is None:  # an input outside results/ (a package module): code, by id
            return code(path, digest)
        return data_file(crate_id, digest)

    def tool(script: dict[str, Any]) -> Any:
        """A job's script: the tool its rule's step runs."""
        entity = code(script["path"], types=("SoftwareApplication",))
        entity["programmingLanguage"] = "Python"
        if script.get("git_blob"):
            entity["identifier"] = f"git blob {script['git_blob']}"
        return entity

    workflow_inputs: dict[str, Any] = {}  # what no job made: code, downloaded sources
    read: set[str] = set()  # crate ids of the artifacts some job read
    tools = [tool(record["script"]) for record in records]  # before an input names a script
    jobs = []
    for index, record in enumerate(records):
        inputs = []
        for path, digest in record["inputs"].items():
            entity = artifact(path, digest)
            inputs.append(entity)
            crate_id = _in_crate(path, results)
            if crate_id is not None:
                read.add(crate_id)
            if crate_id is None or crate_id not in producer:
                workflow_inputs.setdefault(entity.id, entity)
        url = _source_url(record)
        if url:  # the downloaded file as the mirror served it
            source = crate.dereference(url) or crate.add_file(url, properties={
                "name": url.rsplit("/", 1)[-1], "description": "downloaded from a mirror"})
            inputs.append(source)
            workflow_inputs.setdefault(source.id, source)
        outputs = [artifact(path, digest) for path, digest in record["outputs"].items()]
        versions = record.get("software", {})
        job = crate.add_action(
            tools[index],
            identifier=f"#job/{_job_key(record)}",
            object=inputs,
            result=outputs,
            properties={
                "@type": "CreateAction",
                "name": _job_name(record),
                "startTime": record["time"]["start"], "endTime": record["time"]["end"],
                "actionStatus": COMPLETED,
                "description": (f"commit {record['code']['commit']}"
                                + (" (with uncommitted changes)" if record["code"]["dirty"]
                                   else "")
                                + f"; config subset SHA-256 {record['config_subset_sha256']}"),
                "agent": {"@id": f"#host/{record['machine']['host']}"},
                "softwareUsed": [application(name, version) for name, version in
                                 sorted(versions.items()) if version],
            })
        usage = _resource_usage(crate, record)
        if usage:
            job["resourceUsage"] = usage
        # The job's own record is one of its results, and describes it.
        job.append_to("result", data_file(
            record_ids[index], sha256_file(record["_path"]), name=f"provenance record of "
            f"{_job_name(record)}", encodingFormat="application/json", about={"@id": job.id}))
        jobs.append(job)
    for host in sorted({r["machine"]["host"] for r in records}):
        crate.add(ContextEntity(crate, f"#host/{host}", properties={
            "@type": "Place", "name": host}))

    # One step per rule, in an order where each rule comes after the rules it reads from.
    positions = _rule_positions(records, producer, results)
    rules = sorted(dict.fromkeys(r["rule"] for r in records),
                   key=lambda rule: positions.get(rule, 0))
    steps = {}
    for rule in rules:  # the figure rule runs one script per figure: its step lists them all
        scripts = list({tool.id: tool for tool, record in zip(tools, records, strict=True)
                        if record["rule"] == rule}.values())
        steps[rule] = crate.add(ContextEntity(crate, f"#step/{rule}", properties={
            "@type": "HowToStep", "name": f"rule {rule}",
            "workExample": scripts[0] if len(scripts) == 1 else scripts,
            **({"position": positions[rule]} if rule in positions else {})}))
    workflow["step"] = list(steps.values())
    workflow["hasPart"] = list({tool.id: tool for tool in tools}.values())
    controls = [crate.add(ContextEntity(crate, f"#control/{_job_key(record)}", properties={
        "@type": "ControlAction", "name": f"orchestrate {_job_name(record)}",
        "instrument": steps[record["rule"]], "object": job, "actionStatus": COMPLETED,
        "startTime": record["time"]["start"], "endTime": record["time"]["end"]}))
        for job, record in zip(jobs, records, strict=True)]

    # The run of the whole workflow: what no job made went in, what no job read came out.
    final = [files[crate_id] for record in records for path in record["outputs"]
             if (crate_id := _in_crate(path, results)) is not None and crate_id not in read]
    start = min((r["time"]["start"] for r in records), default=None)
    end = max((r["time"]["end"] for r in records), default=None)
    times = {**({"startTime": start} if start else {}), **({"endTime": end} if end else {})}
    run = crate.add(ContextEntity(crate, "#run", properties={
        "@type": "CreateAction", "name": "Run of the prml-pipeline Snakefile",
        "instrument": workflow, "object": list(workflow_inputs.values()),
        "result": list({entity.id: entity for entity in final}.values()),
        "actionStatus": COMPLETED, **times}))
    engine = Counter(r.get("software", {}).get("snakemake") for r in records).most_common()
    version = next((v for v, _ in engine if v), None)
    snakemake = application("snakemake", version)
    snakemake["url"] = {"@id": "https://snakemake.github.io"}
    organize = crate.add(ContextEntity(crate, "#organize", properties={
        "@type": "OrganizeAction",
        "name": f"Run of Snakemake {version}" if version else "Run of Snakemake",
        "instrument": snakemake, "object": controls, "result": run,
        "actionStatus": COMPLETED, **times}))
    crate.root_dataset["mentions"] = [run, organize, *controls, *jobs]
    return crate


def write_crate(results: Path) -> Path:
    """Write results/ro-crate-metadata.json (only the metadata: the files stay where they are)."""
    crate = build_crate(results)
    target = results / METADATA
    from prml_pipeline.artifacts import save_json

    save_json(target, crate.metadata.generate())
    return target


def refresh_crate(results: Path) -> Path | None:
    """Rewrite the crate when a record is newer than it (after a run that changed something)."""
    records = list((results / "provenance").rglob("*.json"))
    target = results / METADATA
    if not records:
        return None
    if target.is_file() and target.stat().st_mtime >= max(p.stat().st_mtime for p in records):
        return target
    return write_crate(results)
