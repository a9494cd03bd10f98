"""`prml`: one command, one parser, one guard for every run-keeping tool."""

from __future__ import annotations

import subprocess
import sys

import pytest

from prml_pipeline.runs.cli import main, parser


def test_every_tool_is_a_subcommand():
    commands = parser()._subparsers._group_actions[0].choices
    assert set(commands) == {"audit", "compare", "bundle", "unbundle", "crate", "cache"}


@pytest.mark.parametrize("argv", [["audit", "nowhere"], ["crate", "nowhere"],
                                  ["bundle", "nowhere"], ["compare", "nowhere", "."]])
def test_a_folder_without_records_gets_one_message_and_exit_2(argv, tmp_path, monkeypatch,
                                                              capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"prml {argv[0]}: nowhere/provenance not found: nowhere holds no "
                          "results made by the workflow")
    assert err.count("\n") == 1


def test_python_dash_m_is_the_same_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "prml_pipeline", "audit", "nowhere"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and "prml audit: nowhere/provenance not found" in done.stderr
