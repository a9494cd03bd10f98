"""Export the provenance records as a Workflow Run RO-Crate (Provenance Run Crate profile).

    python -m prml_pipeline.crate [results/]

writes results/ro-crate-metadata.json with the `rocrate` library: every recorded artifact
under results/ as a File with its SHA-256, the workflow (Snakefile) as the crate's main entity,
one OrganizeAction for the run and one CreateAction per job, whose instrument is the job's
script, whose object is the files it read, whose result is the files it wrote, with start and
end times, the machine and the software versions. The workflow runs it after every successful
run (`onsuccess` in the Snakefile); it needs nothing but the records.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from prml_pipeline.records import load_records

METADATA = "ro-crate-metadata.json"
PROFILES = {
    "process": "https://w3id.org/ro/wfrun/process/0.5",
    "workflow": "https://w3id.org/ro/wfrun/workflow/0.5",
    "provenance": "https://w3id.org/ro/wfrun/provenance/0.5",
    "wroc": "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
}


def _in_crate(path: str, results: Path) -> str | None:
    """The crate-relative id of a path the records give relative to the workflow directory."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(results))
    return None if relative.startswith("..") else relative


def _code_id(path: str) -> str:
    """Code lives beside results/, in the workflow's repository: a local id names it."""
    return f"#code/{path}"


def build_crate(results: Path) -> ROCrate:
    records = sorted(load_records(results / "provenance"),
                     key=lambda r: (r["time"]["start"], r["_path"]))
    crate = ROCrate()
    crate.root_dataset["name"] = "Results of the prml-pipeline workflow"
    crate.root_dataset["description"] = (
        "Artifacts of one workspace of the PRML sheet pipeline, with one CreateAction per "
        "Snakemake job: which script, inputs, settings and software made each file.")
    crate.root_dataset["conformsTo"] = [{"@id": url} for url in PROFILES.values()]
    for url in PROFILES.values():
        crate.add(ContextEntity(crate, url, properties={"@type": "CreativeWork"}))

    workflow = crate.add(ContextEntity(crate, _code_id("Snakefile"), properties={
        "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
        "name": "prml-pipeline Snakefile", "programmingLanguage": {"@id": "#snakemake"}}))
    crate.root_dataset["mainEntity"] = workflow
    software: dict[str, Any] = {}

    def application(name: str, version: str | None) -> Any:
        key = f"#software/{name}-{version}"
        if key not in software:
            software[key] = crate.add(ContextEntity(crate, key, properties={
                "@type": "SoftwareApplication", "name": name,
                **({"version": version} if version else {})}))
        return software[key]

    snakemake = crate.add(ContextEntity(crate, "#snakemake", properties={
        "@type": "ComputerLanguage", "name": "Snakemake",
        "url": {"@id": "https://snakemake.github.io"}}))
    files: dict[str, Any] = {}

    def data_file(path: str, digest: str) -> Any:
        crate_id = _in_crate(path, results)
        if crate_id is None:  # an input outside results/ (a package module): code, by id
            crate_id = _code_id(path)
            if crate_id not in files:
                files[crate_id] = crate.add(ContextEntity(crate, crate_id, properties={
                    "@type": ["File", "SoftwareSourceCode"], "name": path, "sha256": digest}))
            return files[crate_id]
        if crate_id not in files:
            files[crate_id] = crate.add_file(dest_path=crate_id, properties={
                "sha256": digest, "contentSize": os.path.getsize(results / crate_id)
                if (results / crate_id).is_file() else None})
        return files[crate_id]

    actions = []
    for record in records:
        script = record["script"]
        instrument = crate.add(ContextEntity(crate, _code_id(script["path"]), properties={
            "@type": ["File", "SoftwareSourceCode", "SoftwareApplication"],
            "name": script["path"], "identifier": f"git blob {script['git_blob']}",
            "programmingLanguage": "Python"}))
        wildcards = ", ".join(f"{k}={v}" for k, v in record.get("wildcards", {}).items())
        versions = record.get("software", {})
        action = crate.add_action(
            instrument,
            identifier=f"#job/{record['rule']}/{wildcards or record['rule']}",
            object=[data_file(path, digest) for path, digest in record["inputs"].items()],
            result=[data_file(path, digest) for path, digest in record["outputs"].items()],
            properties={
                "name": f"rule {record['rule']}" + (f" ({wildcards})" if wildcards else ""),
                "startTime": record["time"]["start"], "endTime": record["time"]["end"],
                "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
                "description": (f"commit {record['code']['commit']}"
                                + (" (with uncommitted changes)" if record["code"]["dirty"]
                                   else "")
                                + f"; config subset SHA-256 {record['config_subset_sha256']}"),
                "agent": {"@id": f"#host/{record['machine']['host']}"},
                "softwareUsed": [application(name, version) for name, version in
                                 sorted(versions.items()) if version],
            })
        actions.append(action)
    for host in sorted({r["machine"]["host"] for r in records}):
        crate.add(ContextEntity(crate, f"#host/{host}", properties={
            "@type": "Place", "name": host}))
    organize = crate.add(ContextEntity(crate, "#organize", properties={
        "@type": "OrganizeAction", "name": "Snakemake runs that made these results",
        "instrument": {"@id": snakemake.id}, "object": [{"@id": a.id} for a in actions],
        "result": {"@id": "./"}}))
    crate.root_dataset["mentions"] = [organize, *actions]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", default="results", type=Path)
    args = parser.parse_args(argv)
    if not (args.results / "provenance").is_dir():
        print(f"crate: {args.results}/provenance not found: nothing has been built here",
              file=sys.stderr)
        return 2
    print(f"wrote {write_crate(args.results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["build_crate", "refresh_crate", "write_crate"]
