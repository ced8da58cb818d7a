"""`sean synth`, `sean export` and `sean train` onto a full and onto a read-only file system: one line
naming the path and the reason, and no partial file left behind. Needs a tmpfs mount (root with
CAP_SYS_ADMIN); skipped elsewhere."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sean_core.cli import main
from sean_core.domains import get_domain
from tests.helpers import tiny_run_config, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def small_fs(tmp_path) -> Path:
    """A 256 KiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_full_and_read_only_file_systems_are_one_line_and_leave_nothing(
    small_fs, tiny_package, tiny_export_checkpoint, tmp_path
):
    get_domain("shapes").write_split(tmp_path / "data", "test", 1, progress=False)
    label, style = tmp_path / "data/test/labels/00000.png", tmp_path / "data/test/images/00000.png"
    config = write_config(tmp_path / "tiny.yaml", tiny_run_config())
    runner = CliRunner()

    def synth(out: Path):
        return runner.invoke(main, ["synth", str(tiny_package), "--label", str(label), "--style", str(style),
                                    "-o", str(out)])  # fmt: skip

    filler = small_fs / "filler"
    filler.write_bytes(b"\0" * (256 * 1024 - 4096))  # leaves less than one output image
    assert f"cannot write {small_fs / 'out.png'}: No space left on device" in error_line(synth(small_fs / "out.png"))
    filler.unlink()
    export = runner.invoke(main, ["export", str(tiny_export_checkpoint), "--no-validate", "-q",
                                  "-o", str(small_fs / "pkg")])  # fmt: skip
    assert f"cannot write the package {small_fs / 'pkg'}: No space left on device" in error_line(export)
    train = runner.invoke(main, ["train", "--config", str(config), "--out", str(small_fs / "run"), "--quiet",
                                 "--device", "cpu"])  # fmt: skip
    assert "No space left on device" in error_line(train)
    left = files_under(small_fs)
    assert not [name for name in left if ".partial-" in name or name.endswith(".tmp") or ".build." in name], left

    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    assert "Read-only file system" in error_line(synth(small_fs / "out.png"))
    export = runner.invoke(main, ["export", str(tiny_export_checkpoint), "-q", "-o", str(small_fs / "pkg2")])
    line = error_line(export)  # named before the checkpoint loads (the output rules' probe)
    assert f"-o {small_fs / 'pkg2'} cannot be written" in line and "Read-only file system" in line, line
    train = runner.invoke(main, ["train", "--config", str(config), "--out", str(small_fs / "run2"), "--quiet"])
    assert f"cannot write {small_fs / 'run2'}: Read-only file system" in error_line(train)
