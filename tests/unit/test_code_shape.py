"""Functions small enough to read at once: none longer than 60 lines in the code we ship."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT = 60


def long_functions(*folders: Path) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = node.end_lineno - node.lineno + 1
                    if length > LIMIT:
                        found.append(f"{path.relative_to(folder.parent)}:{node.lineno} "
                                     f"{node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_60_lines():
    assert long_functions(REPO / "src", REPO / "scripts", REPO / "benchmarks") == []


def test_the_check_counts_a_long_function(tmp_path):
    code = tmp_path / "pkg"
    code.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (code / "m.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n")
    assert long_functions(code) == [f"pkg/m.py:5 long ({LIMIT + 1} lines)"]
