"""The `sean` command group: lazy subcommands, help without torch, install hints for missing extras."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from sean_core.cli import all_commands
from sean_core.command import missing_dependency
from sean_core.install import install_command


def test_help_lists_every_command_without_importing_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sean_core.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)\n"
        "print('TORCH_LOADED' if 'torch' in sys.modules else 'TORCH_FREE')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in all_commands():
        assert name in out
    assert "TORCH_FREE" in out


@pytest.mark.parametrize("name", sorted(all_commands()))
def test_each_command_has_help_with_an_example(name):
    from click.testing import CliRunner

    from sean_core.cli import main

    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_missing_optional_dependency_names_the_extra_and_a_command_that_works_here():
    err = missing_dependency("export", ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime"))
    assert isinstance(err, click.ClickException)
    assert "needs onnxruntime (the 'runtime' extra)" in err.message and "runtime-gpu" in err.message
    assert install_command("runtime") in err.message
    err = missing_dependency("train", ModuleNotFoundError("No module named 'torch.nn'", name="torch.nn"))
    assert err.message.startswith("`sean train` needs torch (the 'train' extra), which is not installed: ")
    unrelated = ModuleNotFoundError("No module named 'mything'", name="mything")
    assert missing_dependency("train", unrelated) is unrelated
    # Not `pip install 'sean-deploy[...]'`: the distribution is on no index.
    assert "sean-deploy[" not in err.message


def test_the_cpp_build_without_openvino_names_the_extra_and_a_command_that_works_here(monkeypatch):
    from sean_runtime.cpp import binding

    monkeypatch.setattr(binding.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    reason = binding.missing_tool()
    assert reason.startswith("the C++ runtime's build needs openvino (the 'openvino' extra), which is not installed")
    assert install_command("openvino") in reason and "sean-deploy[" not in reason


def write_installation(site: Path, direct_url: dict) -> None:
    """What pip leaves in site-packages for sean-deploy: a .dist-info with METADATA and (PEP 610) direct_url.json."""
    info = site / "sean_deploy-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sean-deploy\nVersion: 0.1.0\n")
    (info / "direct_url.json").write_text(json.dumps(direct_url))


@pytest.mark.parametrize("kind", ["editable", "folder", "wheel", "index"])
def test_install_command_repeats_where_this_installation_came_from(kind, tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    (checkout / "constraints").mkdir(parents=True)
    (checkout / "constraints" / "cpu.txt").write_text("torch==2.13.0\n")
    wheel = tmp_path / "dist" / "sean_deploy-0.1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"")
    record = {
        "editable": {"url": checkout.as_uri(), "dir_info": {"editable": True}},
        "folder": {"url": checkout.as_uri(), "dir_info": {}},
        "wheel": {"url": wheel.as_uri(), "archive_info": {"hash": "sha256=0"}},
        "index": {"url": "https://example.org/sean_deploy-0.1.0.tar.gz", "archive_info": {}},
    }[kind]
    write_installation(tmp_path / "site", record)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.chdir(tmp_path)
    python = shlex.quote(os.path.relpath(sys.executable) if Path(sys.executable).is_relative_to(tmp_path)
                         else sys.executable)
    expected = {
        "editable": f"{python} -m pip install -c checkout/constraints/cpu.txt -e 'checkout[export]'",
        "folder": f"{python} -m pip install -c checkout/constraints/cpu.txt 'checkout[export]'",
        "wheel": f"{python} -m pip install 'dist/sean_deploy-0.1.0-py3-none-any.whl[export]' (on a CPU machine",
        "index": "pip install -c constraints/cpu.txt -e '.[export]' in a sean-deploy checkout",
    }[kind]
    assert install_command("export").startswith(expected)
    assert " -c " not in install_command("runtime")  # only the extras that pull torch need the CPU pin


@pytest.mark.parametrize("args", [["export", "{ckpt}", "-o", ""], ["publish", "{ckpt}", "--out="],
                                  ["eval", "{ckpt}", "--json", ""],
                                  ["synth", "{ckpt}", "--label", "a.png", "--style", "a.png", "-o", ""]])
def test_an_empty_path_option_is_named_not_read_as_the_current_folder(tiny_checkpoint, tmp_path, monkeypatch, args):
    # `-o "$OUT"` with OUT unset: synth wrote its images into the current folder, export said "-o . is ..."
    from click.testing import CliRunner

    from sean_core.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [arg.format(ckpt=tiny_checkpoint) for arg in args])
    option = "--out" if args[0] == "publish" else args[-2]
    assert result.exit_code == 2
    assert result.output == f"Error: {option} is empty (an unset shell variable?); name the path\n"
    assert list(tmp_path.iterdir()) == []
