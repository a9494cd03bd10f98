"""The package's folders are its layers: imports run downwards only, and never in a circle."""

from __future__ import annotations

from pathlib import Path

import pytest

from prml_pipeline.runs.codedeps import imported_modules, module_file

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "prml_pipeline"

# What each layer may import besides itself. The science (sheet), its figures and the report
# never reach the run-keeping (runs); errors and artifacts sit at the bottom.
ALLOWED = {
    "errors": set(),
    "artifacts": {"errors"},
    "config": {"errors"},
    "sheet": {"errors", "artifacts"},
    "figures": {"errors", "artifacts", "sheet"},
    "report": {"errors", "artifacts", "sheet", "figures"},
    "runs": {"errors", "artifacts", "config", "sheet", "figures", "report"},
    "__main__": {"runs"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def modules() -> dict[str, set[str]]:
    """Each module of the package (dotted) and the package modules it imports."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = {imported for imported in imported_modules(path)
                       if module_file(SRC, imported) is not None and imported != name}
    return graph


def test_every_layer_imports_only_the_layers_below_it():
    broken = sorted(
        f"{name} imports {imported}"
        for name, imports in modules().items() if layer(name) in ALLOWED
        for imported in imports
        if layer(imported) not in ALLOWED[layer(name)] | {layer(name), "__init__"}
    )
    assert broken == []
    assert set(ALLOWED) >= {layer(name) for name in modules()} - {"__init__"}


def test_the_checker_catches_a_science_module_that_imports_the_run_keeping(tmp_path,
                                                                           monkeypatch):
    fake = tmp_path / "prml_pipeline"
    (fake / "sheet").mkdir(parents=True)
    (fake / "runs").mkdir()
    for init in (fake / "__init__.py", fake / "sheet/__init__.py", fake / "runs/__init__.py"):
        init.write_text("")
    (fake / "runs/records.py").write_text("")
    (fake / "sheet/model.py").write_text("from prml_pipeline.runs.records import x\n")
    monkeypatch.setattr(__import__(__name__), "SRC", tmp_path)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    with pytest.raises(AssertionError, match="sheet.model imports prml_pipeline.runs.records"):
        test_every_layer_imports_only_the_layers_below_it()


def test_imports_form_no_circle():
    graph = modules()

    def reaches(start: str, goal: str, seen: frozenset[str]) -> bool:
        return any(step == goal or (step not in seen and reaches(step, goal, seen | {step}))
                   for step in graph.get(start, ()))

    assert [name for name in graph if reaches(name, name, frozenset())] == []
