"""Which package modules a job's script runs: the code inputs of its rule.

Read from the import statements (at module level or inside a function), followed through the
package: a new import needs no edit of the rules. Only the science counts (`sheet`,
`figures`, `report` and the bottom modules `errors`, `artifacts`, `config`); the run-keeping
(`runs`) wraps every job and enters the rules as a version param instead, so that editing the
audit or the record reader reruns nothing.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

PACKAGE = "prml_pipeline"
# Subpackages that are never code inputs: the harness and the tools.
RUN_KEEPING = ("runs",)


def imported_modules(path: str | os.PathLike[str]) -> set[str]:
    """Dotted names the Python file at `path` imports from the package, anywhere in it; for
    `from a.b import c` both `a.b` and `a.b.c` (c may be a module or a name in a.b)."""
    names = set()
    for node in ast.walk(ast.parse(Path(path).read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def module_file(src: Path, name: str) -> Path | None:
    """The file of dotted module `name` under `src` (a module or a package's __init__)."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def is_run_keeping(name: str) -> bool:
    parts = name.split(".")
    return len(parts) > 1 and parts[1] in RUN_KEEPING


def science_modules(src: str | os.PathLike[str], *scripts: str | os.PathLike[str]) -> list[str]:
    """The science modules the `scripts` reach, with the __init__.py of each package on the
    way, as sorted paths under `src` (the folder holding the package)."""
    src = Path(src)
    todo, seen = [Path(script) for script in scripts], set()
    while todo:
        for name in imported_modules(todo.pop()):
            parts = name.split(".")
            # The packages on the way are imported too (their __init__ runs).
            for depth in range(1, len(parts) + 1):
                module = ".".join(parts[:depth])
                if module in seen or is_run_keeping(module):
                    continue
                found = module_file(src, module)
                if found is not None:
                    seen.add(module)
                    todo.append(found)
    return sorted(str(module_file(src, name)) for name in seen)
