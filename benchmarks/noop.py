"""Time a no-op `snakemake --cores all` and a dry run against Snakemake's own floor.

    python -m benchmarks.noop [--directory WORKDIR] [--repeat 5] [-- extra args]

WORKDIR must hold an up-to-date build of the workflow (default: the current directory). The
floor is the same two commands on a trivial one-rule Snakefile, built once in a temporary
directory. Prints the median of each and the overhead of this workflow over the floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKFLOW = Path(__file__).resolve().parents[1] / "Snakefile"
TRIVIAL = """\
rule all:
    input: "out.txt"

rule make:
    output: "out.txt"
    shell: "echo done > {output}"
"""


def snakemake_command() -> list[str]:
    return [str(Path(sys.executable).parent / "snakemake")]


def timed(command: list[str], repeat: int) -> tuple[float, str]:
    """Median wall time of `command` and its last output; fails if it does any work."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    output = done.stdout + done.stderr
    if "Nothing to be done" not in output:
        raise SystemExit(f"{' '.join(command)} is not a no-op: the workspace is not up to date."
                         f"\n{output[-3000:]}")
    return statistics.median(times), output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--directory", type=Path, default=Path.cwd(),
                        help="working directory with an up-to-date build")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("extra", nargs="*", help="extra snakemake arguments (e.g. --configfile)")
    args = parser.parse_args(argv)

    ours = [*snakemake_command(), "-s", str(WORKFLOW), "--directory", str(args.directory),
            *args.extra]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "Snakefile").write_text(TRIVIAL)
        floor = [*snakemake_command(), "-s", str(Path(tmp) / "Snakefile"), "--directory", tmp]
        subprocess.run([*floor, "--cores", "1", "--quiet"], check=True, capture_output=True)
        rows = [
            ("no-op run (--cores all)", timed([*ours, "--cores", "all"], args.repeat)[0],
             timed([*floor, "--cores", "all"], args.repeat)[0]),
            ("dry run (-n)", timed([*ours, "-n"], args.repeat)[0],
             timed([*floor, "-n"], args.repeat)[0]),
        ]
    print(f"{'command':<26}{'workflow s':>12}{'floor s':>10}{'overhead s':>12}")
    for name, workflow_s, floor_s in rows:
        print(f"{name:<26}{workflow_s:>12.2f}{floor_s:>10.2f}{workflow_s - floor_s:>12.2f}")
    worst = max(workflow_s - floor_s for _, workflow_s, floor_s in rows)
    print(f"overhead: max {worst:.2f} s over Snakemake's floor (median of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
