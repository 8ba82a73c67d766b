"""The command line's own surface: help, version, and clean errors."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from intersyn import __version__
from intersyn.cli import COMMANDS, cli


def test_version_prints_package_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_every_registered_command_imports() -> None:
    # A command registered in cli.COMMANDS but missing its module would show as
    # "unavailable" to users; every one must resolve to a real click command.
    for name in COMMANDS:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "unavailable" not in result.output, (name, result.output)


def test_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "intersyn", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in out.stdout
