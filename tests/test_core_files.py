"""sean_core.files: what a path is (loops, links to nothing), exclusive atomic writes racing between
processes, and folders replaced as a whole (exchanged in one step, or repaired after a kill)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sean_core import files
from sean_core.errors import InputError
from sean_core.files import ExistsError, atomic_write_bytes, path_problem, resolved
from tests.helpers import symlink_loop

REPO = Path(__file__).resolve().parents[1]


def test_path_problem_names_what_a_path_is(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dangling").symlink_to("gone")
    assert path_problem(tmp_path / "file") is None and path_problem(tmp_path, folder=True) is None
    assert path_problem(tmp_path / "absent") == files.MISSING
    assert path_problem(tmp_path / "file" / "below") == files.MISSING
    assert path_problem(symlink_loop(tmp_path / "loop")) == files.LOOP
    assert path_problem(tmp_path / "dangling") == "is a symbolic link to gone, which does not exist"
    assert path_problem(tmp_path) == "is a folder, not a file"
    assert path_problem(tmp_path / "file", folder=True) == "is not a folder"
    assert path_problem("/dev/null") == "is not a regular file"
    with pytest.raises(InputError, match=r"loop is a loop of symbolic links; point the link at a real file"):
        resolved(tmp_path / "loop", InputError)
    assert resolved(tmp_path / "dangling", InputError) == tmp_path / "gone"


RACE = """
import sys, time
from pathlib import Path
from sean_core.files import ExistsError, atomic_write_bytes
path, me, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
try:
    atomic_write_bytes(path, me.encode() * 100_000, exclusive=True)
except ExistsError:
    sys.exit(3)
"""


@pytest.mark.slow
@pytest.mark.parametrize("hard_links", [True, False])
def test_of_processes_writing_one_new_file_at_once_exactly_one_does(tmp_path, hard_links):
    """Eight processes write the same new file at one moment: one wins, seven get ExistsError, the file is
    the winner's in full, and no temporary file is left. Without hard links the name is taken with O_EXCL."""
    path = tmp_path / "out.bin"
    script = RACE if hard_links else "import os, errno\n" + (
        "def no_links(*a):\n    raise OSError(errno.EPERM, 'no hard links')\nos.link = no_links\n"
    ) + RACE
    start = str(time.time() + 1.5)  # all eight write at this moment, once started
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), str(i), start], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
        for i in range(8)
    ]
    codes = [proc.wait(timeout=60) for proc in procs]
    assert sorted(codes) == [0] + [3] * 7, codes
    assert path.read_bytes() == str(codes.index(0)).encode() * 100_000
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_an_exclusive_write_leaves_an_existing_file_alone(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    atomic_write_bytes(path, b"first", exclusive=True)
    with pytest.raises(ExistsError, match=r"out\.bin exists"):
        atomic_write_bytes(path, b"second", exclusive=True)
    monkeypatch.setattr(os, "link", lambda *a: (_ for _ in ()).throw(OSError(errno.EPERM, "no hard links")))
    with pytest.raises(ExistsError):
        atomic_write_bytes(path, b"third", exclusive=True)
    assert path.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    atomic_write_bytes(path, b"forced")  # not exclusive: replaced atomically, as before
    assert path.read_bytes() == b"forced"


def folder(root: Path, tag: str) -> Path:
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"tag": tag}))
    return root


def tag(root: Path) -> str:
    return json.loads((root / "manifest.json").read_text())["tag"]


def test_exchange_swaps_two_folders_in_one_step_or_says_it_cannot(tmp_path, monkeypatch):
    a, b = folder(tmp_path / "a", "A"), folder(tmp_path / "b", "B")
    if not files.exchange(a, b):
        pytest.skip("this OS or file system cannot exchange two names in one step (renameat2 RENAME_EXCHANGE)")
    assert (tag(a), tag(b)) == ("B", "A")
    with pytest.raises(FileNotFoundError):
        files.exchange(a, tmp_path / "absent")
    monkeypatch.setattr(files, "_renameat2", lambda: None)  # another OS: no renameat2
    assert files.exchange(a, b) is False and (tag(a), tag(b)) == ("B", "A")


# A process that replaces `out` by `build` and is killed (os._exit) at one exact point of replace_folder.
KILLED = """
import os, sys
from pathlib import Path
from sean_core import files
build, out, point = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
rename = Path.rename
if point == "between the two renames":
    files.exchange = lambda a, b: False  # the fallback: another OS, or a file system without the flag
    def killed_before_moving_in(self, target):
        if self == build and Path(target) == out:
            os._exit(9)
        return rename(self, target)
    Path.rename = killed_before_moving_in
else:  # "after the exchange", before the earlier one is deleted
    exchange = files.exchange
    files.exchange = lambda a, b: exchange(a, b) and os._exit(9)
with files.folder_lock(out):
    files.replace_folder(build, out)
sys.exit(0)
"""


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def replace_killed(tmp_path: Path, point: str) -> Path:
    out = folder(tmp_path / "pkg", "earlier")
    build = folder(tmp_path / f".pkg.build.{dead_pid()}.new", "new")  # as the killed process names it
    code = subprocess.run([sys.executable, "-c", KILLED, str(build), str(out), point], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}).returncode
    assert code == 9, "the replacement was not killed at that point"
    return out


def test_a_replacement_killed_after_the_exchange_leaves_the_new_folder_in_place(tmp_path):
    if not files.exchange(folder(tmp_path / "x", "x"), folder(tmp_path / "y", "y")):
        pytest.skip("this OS or file system cannot exchange two names in one step")
    out = replace_killed(tmp_path / "case", "after the exchange")
    assert tag(out) == "new"
    leftovers = files.work_folders(out)
    assert [(kind, tag(path)) for path, kind, _ in leftovers] == [("build", "earlier")]
    files.clean_work_folders(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["pkg"] and tag(out) == "new"


def test_a_replacement_killed_between_the_renames_is_repaired(tmp_path):
    """The fallback moves the earlier folder aside, then the new one in: killed between the two, `out` is
    missing until restore_swapped_out (clean_work_folders, or recover_folder for readers) moves it back."""
    out = replace_killed(tmp_path, "between the two renames")
    assert not out.exists()
    assert [kind for _, kind, _ in files.work_folders(out)] == ["build", "old"]
    assert files.recover_folder(out) == out and tag(out) == "earlier"
    files.clean_work_folders(out)  # the half-published build of the dead process goes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


@pytest.mark.parametrize("swap", ["exchange", "two renames"])
def test_a_folder_replacing_a_link_leaves_no_work_link_behind(tmp_path, monkeypatch, swap):
    # `sean export CKPT -o LINK` (LINK -> an earlier package) left .LINK.build.PID.X -> the package, for good
    if swap == "two renames":
        monkeypatch.setattr(files, "exchange", lambda a, b: False)
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "manifest.json").write_text("{}")
    (tmp_path / "link").symlink_to("earlier")
    with files.building_folder(tmp_path / "link") as build:
        (build / "manifest.json").write_text('{"new": true}')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier", "link"]
    assert not (tmp_path / "link").is_symlink() and (tmp_path / "link" / "manifest.json").read_text() == '{"new": true}'
    assert (tmp_path / "earlier" / "manifest.json").read_text() == "{}"  # the link's target is not touched


def test_a_folder_of_the_users_is_refused_in_one_wording_that_can_name_what_sets_it_apart(tmp_path):
    # `sean publish` and `sean convert-official` had a wording of their own for the rule
    (tmp_path / "notes.txt").write_text("mine")
    ours = files.foreign_folder_problem(tmp_path, lambda folder: True, "an earlier model folder")
    plain = files.foreign_folder_problem(tmp_path, lambda folder: False, "an earlier model folder")
    named = files.foreign_folder_problem(tmp_path, lambda folder: False, "an earlier model folder",
                                         differs=lambda folder: "holds notes.txt")
    assert ours is None
    assert plain == (f"{tmp_path} exists and is not an earlier model folder; refusing to replace it: choose another "
                     f"-o folder or remove it")
    assert named == plain.replace("exists and", "exists and holds notes.txt, so it")
