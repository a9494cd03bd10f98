"""Source code quoted in the report, read from the files when the report is built."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path


def definitions(path: str | Path, names: Sequence[str] | None = None) -> str:
    """The source of the top-level functions and classes `names` of a Python file, in the
    file's order, decorators and docstrings included (all of them when `names` is None).

    A name the file does not define is an error naming it and the file."""
    text = Path(path).read_text()
    tree = ast.parse(text)
    lines = text.splitlines()
    found = {node.name: node for node in tree.body
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    wanted = list(found) if names is None else list(names)
    missing = [name for name in wanted if name not in found]
    if missing:
        raise KeyError(f"{path} defines no {', '.join(missing)} to quote in the report")
    nodes = sorted((found[name] for name in wanted), key=lambda node: node.lineno)
    blocks = []
    for node in nodes:
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        blocks.append("\n".join(lines[start - 1:node.end_lineno]))
    return "\n\n\n".join(blocks)
