"""The `sean` command group: lazy subcommands, help without torch, install hints for missing extras."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from sean_runtime.cli import COMMANDS, missing_dependency


def test_help_lists_every_command_without_importing_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sean_runtime.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)\n"
        "print('TORCH_LOADED' if 'torch' in sys.modules else 'TORCH_FREE')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert name in out
    assert "TORCH_FREE" in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_help_with_an_example(name):
    from click.testing import CliRunner

    from sean_runtime.cli import main

    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_missing_optional_dependency_names_the_extra():
    err = missing_dependency("export", ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime"))
    assert isinstance(err, click.ClickException)
    assert "sean-deploy[runtime]" in err.message and "runtime-gpu" in err.message
    err = missing_dependency("train", ModuleNotFoundError("No module named 'torch'", name="torch"))
    assert "sean-deploy[train]" in err.message
    unrelated = ModuleNotFoundError("No module named 'mything'", name="mything")
    assert missing_dependency("train", unrelated) is unrelated
