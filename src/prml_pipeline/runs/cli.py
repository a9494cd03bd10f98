"""`prml`: one command for the run-keeping tools, with one argument parser.

    prml audit [RESULTS]              re-hash every artifact against its provenance record
    prml compare A B [--out HTML]     what differs between two results folders, and why
    prml bundle [RESULTS] [-o FILE]   archive results/ with its records and RO-Crate
    prml unbundle FILE [--into DIR]   unpack a bundle and verify it against its records
    prml crate [RESULTS]              (re)write RESULTS/ro-crate-metadata.json
    prml cache verify [CACHE]         re-hash every output-cache entry against its digest index
    prml crate [RESULTS] [--check]    (re)write RESULTS/ro-crate-metadata.json; --check
                                      validates it (provenance-run-crate-0.5, offline)

`python -m prml_pipeline ...` is the same command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from prml_pipeline.runs import audit, bundle, cache, compare, crate

RESULTS = Path("results")


def _results_folders(args: argparse.Namespace) -> list[Path]:
    return [getattr(args, name) for name in ("results", "a", "b") if hasattr(args, name)]


def _missing_provenance(args: argparse.Namespace) -> str | None:
    """The one guard: a results folder the command reads must hold provenance records."""
    for folder in _results_folders(args):
        if not (folder / "provenance").is_dir():
            return (f"{folder}/provenance not found: {folder} holds no results made by the "
                    "workflow (build them with `snakemake --cores all`, or name the folder)")
    return None


def run_audit(args: argparse.Namespace) -> int:
    findings, checked = audit.audit(args.results)
    for finding in findings:
        print(finding)
    leftovers = audit.leftover_records(args.results)
    if leftovers:
        print(f"audit: {len(leftovers)} records of jobs the current report was not built from "
              "(an earlier configuration's; not checked, not problems):")
        for path in leftovers:
            print(f"leftover   {path}")
    print(f"audit: {checked} artifacts checked, {len(findings)} problems")
    return 1 if findings else 0


def run_compare(args: argparse.Namespace) -> int:
    try:
        result = compare.compare(args.a, args.b)
    except compare.CompareError as error:
        print(f"prml compare: {error}", file=sys.stderr)
        return 2
    print(compare.markdown(result, args.a, args.b), end="")
    args.out.write_text(compare.html_page(result, args.a, args.b))
    print(f"\nHTML with the figures side by side: {args.out}")
    return 0


def run_bundle(args: argparse.Namespace) -> int:
    count = bundle.pack(args.results, args.output)
    print(f"wrote {args.output}: {count} files (logs, benchmarks, checkpoints left out)")
    return 0


def run_unbundle(args: argparse.Namespace) -> int:
    try:
        verified, problems = bundle.unpack(args.archive, args.into, args.force)
    except bundle.BundleError as error:
        print(f"prml unbundle: {error}", file=sys.stderr)
        return 2
    print(f"unpacked {args.archive}: {verified} jobs' artifacts match their records")
    for problem in problems:
        print(f"  not trusted, will be remade: {problem}")
    return 1 if problems else 0


def run_crate(args: argparse.Namespace) -> int:
    root = args.workflow or crate.workflow_folder(args.results)
    user = args.results.parent / "config" / "config.yaml"
    configfiles = args.configfile or ([user] if user.is_file() else [])
    print(f"wrote {crate.write_crate(args.results, root, crate.load_metadata(root, configfiles))}")
    if not args.check:
        return 0
    from prml_pipeline.runs.crate_check import PROFILE, check_crate, summary

    lines = summary(check_crate(args.results))
    for line in lines:
        print(f"  {line}")
    required = sum(line.startswith("REQUIRED") for line in lines)
    print(f"{PROFILE}: {required} REQUIRED and {len(lines) - required} RECOMMENDED checks "
          "failed")
    return 1 if required else 0


def run_cache_verify(args: argparse.Namespace) -> int:
    folder = args.cache if args.cache is not None else cache.default_location()
    if not folder.is_dir():
        print(f"prml cache verify: {folder} is not a folder: name the output cache (the "
              "folder $SNAKEMAKE_OUTPUT_CACHE points at)", file=sys.stderr)
        return 2
    findings, entries = cache.verify_cache(folder)
    for finding in findings:
        print(finding)
    remaining = len(findings)
    if args.remove_bad and findings:
        for path, why_not in cache.remove_bad(findings, folder):
            print(f"removed    {path}" if why_not is None else f"kept       {path}: {why_not}")
        remaining = len(cache.verify_cache(folder)[0])
    print(f"cache verify: {entries} entries checked in {folder}, {len(findings)} problems"
          + (f", {remaining} left" if args.remove_bad else ""))
    return 1 if remaining else 0


def _command(commands: argparse._SubParsersAction, name: str, handler: Callable[..., int],
             help_text: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="prml", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    results_help = "results folder (default: results)"
    _command(commands, "audit", run_audit,
             "re-hash every artifact and recorded input against its record").add_argument(
        "results", nargs="?", default=RESULTS, type=Path, help=results_help)
    crater = _command(commands, "crate", run_crate,
                      "write RESULTS/ro-crate-metadata.json from the records")
    crater.add_argument("results", nargs="?", default=RESULTS, type=Path, help=results_help)
    crater.add_argument("--check", action="store_true",
                        help="then validate it offline (rocrate-validator, "
                             "provenance-run-crate-0.5); exit 1 on a REQUIRED failure")
    crater.add_argument("--workflow", type=Path,
                        help="the workflow's folder (default: where the records place it)")
    crater.add_argument("--configfile", type=Path, action="append", default=[],
                        help="config file(s) whose `metadata` names authors, publisher and "
                             "licence (default: RESULTS/../config/config.yaml)")
    comparer = _command(commands, "compare", run_compare,
                        "settings, code, numbers, artifacts and figures that differ")
    comparer.add_argument("a", type=Path, help="first results folder")
    comparer.add_argument("b", type=Path, help="second results folder")
    comparer.add_argument("--out", type=Path, default=Path("comparison.html"),
                          help="HTML page to write (default: comparison.html)")
    packer = _command(commands, "bundle", run_bundle,
                      "archive results/ with its provenance and RO-Crate")
    packer.add_argument("results", nargs="?", default=RESULTS, type=Path, help=results_help)
    packer.add_argument("-o", "--output", type=Path, default=Path("prml-results.tar.gz"))
    unpacker = _command(commands, "unbundle", run_unbundle,
                        "unpack a bundle into this workspace and verify it")
    unpacker.add_argument("archive", type=Path)
    unpacker.add_argument("--into", type=Path, default=Path("."))
    unpacker.add_argument("--force", action="store_true",
                          help="replace an existing results/ (once the archive is checked)")
    cached = _command(commands, "cache", run_cache_verify, "check the shared output cache")
    actions = cached.add_subparsers(dest="action", required=True, metavar="ACTION")
    verifier = actions.add_parser(
        "verify", help="re-hash every entry: list tampered, partial and writable ones",
        description="Re-hash every entry of the output cache against its digest index and "
                    "list tampered, partial, unindexed and writable entries; exit 1 if any.")
    verifier.add_argument("cache", nargs="?", type=Path, default=None,
                          help="the cache folder (default: $SNAKEMAKE_OUTPUT_CACHE, else "
                               ".cache/snakemake-outputs)")
    verifier.add_argument("--remove-bad", action="store_true",
                          help="delete each bad entry you own (root: any), then check again")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    problem = _missing_provenance(args)
    if problem is not None:
        print(f"prml {args.command}: {problem}", file=sys.stderr)
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
