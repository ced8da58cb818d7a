"""File helpers shared by every package: atomic writes, JSON files, locks and hashes (numpy-free, torch-free)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sean_core.errors import FileWriteError, LockedError, SeanError


def write_problem(path: Path, exc: OSError) -> FileWriteError:
    """One line naming the path and the reason an OSError gives (read-only or full file system, ...)."""
    return FileWriteError(f"cannot write {path}: {exc.strerror or exc}")


def shown_path(path: str | Path) -> str:
    """A path as a message shows it: whole up to 200 characters, else its first 100 and last 60 around an
    ellipsis, then its length (an over-long name would fill the screen). The C++ runtime's shown_path
    (sean_runtime/cpp/src/paths.hpp) writes the same."""
    name = str(path)
    return name if len(name) <= 200 else f"{name[:100]}…{name[-60:]} ({len(name)} characters)"


def path_argument(value: object, what: str, error: Callable[[str], SeanError]) -> Path:
    """A path given to a Python API: str, bytes or any os.PathLike, as open() takes them -> Path; anything else
    (None from an unset environment variable, a number, a list) is error(one line) naming `what` was given."""
    try:
        return Path(os.fsdecode(os.fspath(value)))  # os.fspath refuses what is no path with a TypeError
    except TypeError:
        raise error(f"{what} must be a path (str or os.PathLike), got {type(value).__name__} {value!r:.80}") from None


MISSING = "does not exist"  # what path_problem says of a path that names nothing
LOOP = "is a loop of symbolic links"
FOLDER = "is a folder, not a file"
NOT_REGULAR = "is not a regular file"  # a pipe, a device, a socket: reading one would block or never end


def path_problem(path: str | Path, folder: bool = False) -> str | None:
    """Why `path` is not a regular file (folder=True: a folder), as the end of a sentence that starts with
    the path; None when it is one. Symbolic links are followed: a loop or a link to nothing is named as such."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"is a symbolic link to {os.readlink(path)}, which does not exist"
        return MISSING
    except NotADirectoryError:
        return MISSING  # a file stands where a folder of the path should be
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return LOOP
        return f"cannot be looked up ({exc.strerror or exc})"  # a name too long, no permission, ...
    if folder:
        return None if stat.S_ISDIR(info.st_mode) else "is not a folder"
    if stat.S_ISREG(info.st_mode):
        return None
    return FOLDER if stat.S_ISDIR(info.st_mode) else NOT_REGULAR


def resolved(path: str | Path, error: Callable[[str], SeanError]) -> Path:
    """path.resolve() with error(one line) for what cannot be resolved: a loop of symbolic links (Python
    raises RuntimeError for it up to 3.12, OSError after), a path too long, ..."""
    try:
        return Path(path).resolve()
    except RuntimeError as exc:
        raise error(f"{path} {LOOP}; point the link at a real file") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{path} {LOOP}; point the link at a real file") from exc
        raise error(f"{path} cannot be resolved ({exc.strerror or exc})") from exc


LINKED_FOLDER = (  # after the path; output_problem's rule for a folder output
    "is a symbolic link to {target}: the output would replace the link with a new folder, not write into "
    "{target}; give the target as the output folder, or remove the link"
)
EXISTS_WITHOUT_FORCE = "exists; pass --force to overwrite it, or choose another name"  # after the path


class ResolvedInputs:
    """A command's inputs resolved once (symbolic links followed), so that the checks of many outputs (a
    folder run's hundreds) look each output up instead of resolving and comparing every input again."""

    def __init__(self, inputs: Iterable[str | Path | None]) -> None:
        self.given: dict[Path, str | Path] = {}  # resolved input -> as given (the first, for messages)
        self.held: dict[Path, str | Path] = {}  # each folder above an input -> that input
        for source in inputs:
            if source is None:
                continue
            real = Path(source).resolve()
            self.given.setdefault(real, source)
            for parent in real.parents:
                self.held.setdefault(parent, source)

    @classmethod
    def of(cls, inputs: Iterable[str | Path | None] | ResolvedInputs) -> ResolvedInputs | str:
        """`inputs` resolved (None entries skipped), or why one cannot be (a loop of symbolic links, a name
        too long: see resolved()) as the end of a sentence."""
        if isinstance(inputs, ResolvedInputs):
            return inputs
        try:
            return cls(inputs)
        except (OSError, RuntimeError) as exc:
            return f"cannot be resolved ({getattr(exc, 'strerror', None) or exc})"


def _inside_input(real: Path, inputs: ResolvedInputs, replaces: bool = True) -> str | None:
    """The output (resolved) is one of the inputs or lies inside an input folder.
    replaces: the command replaces its output (else it adds files to it)."""
    if real in inputs.given:
        return f"{'would overwrite' if replaces else 'is'} the input {inputs.given[real]}; write the output elsewhere"
    for parent in real.parents:
        if parent in inputs.given and parent.is_dir():
            return f"lies inside the input folder {inputs.given[parent]}; write the output elsewhere"
    return None


def _resolved_paths(
    path: str | Path, inputs: Iterable[str | Path | None] | ResolvedInputs
) -> tuple[Path, ResolvedInputs] | str:
    """The output and the inputs resolved, or why they cannot be (see ResolvedInputs.of)."""
    resolved_inputs = ResolvedInputs.of(inputs)
    if isinstance(resolved_inputs, str):
        return resolved_inputs
    try:
        return Path(path).resolve(), resolved_inputs
    except (OSError, RuntimeError) as exc:
        return f"cannot be resolved ({getattr(exc, 'strerror', None) or exc})"


def inside_input_problem(path: str | Path, inputs: Iterable[str | Path | None]) -> str | None:
    """output_problem's first rule alone, for an output folder that a command adds files to rather than
    replaces (`sean train --out`): it is none of `inputs` and lies inside none of them."""
    paths = _resolved_paths(path, inputs)
    if isinstance(paths, str):
        return paths
    return _inside_input(*paths, replaces=False)


def output_problem(
    path: str | Path,
    inputs: Iterable[str | Path | None] | ResolvedInputs = (),
    force: bool = False,
    suffixes: tuple[str, ...] = (),
    folder: bool = False,
) -> str | None:
    """Why a command may not write its output `path` (a file; folder=True: a folder it replaces as a whole),
    as the end of a sentence that starts with the path; None when it may. Checked before the work, so that
    a bad destination costs nothing:

    - it is none of `inputs` (None entries are skipped; a ResolvedInputs for the outputs of one command),
      lies inside none of them and holds none of them: even --force never replaces what the command reads
      (symbolic links resolved);
    - a folder is not a symbolic link: replacing the folder as a whole swaps the link itself for a folder,
      leaving its target as it was, and writing through it would replace a folder the user did not name;
      a file that is one is written through (atomic_write), the target taking the rules below, as a file
      link is where a user keeps a file (`cp` and a shell's `>` write through it too);
    - its suffix is one of `suffixes` (what is written: .png, .json), where they are given;
    - an existing one is replaced only with `force`, and only if it is of the kind written (a regular file,
      or a folder): replacing a device or a folder with a file is never meant;
    - its folder exists or can be made, and a file can be created there (probed, because os.access says
      yes to root on /proc and on read-only mounts, and mkdir -p alone proves nothing).
    """
    path = Path(path)
    paths = _resolved_paths(path, inputs)
    if isinstance(paths, str):
        return paths
    real, resolved_inputs = paths
    problem = _inside_input(real, resolved_inputs)
    if problem is not None:
        return problem
    if real in resolved_inputs.held:
        held = resolved_inputs.held[real]
        return f"holds the input {held}, which replacing it would delete; write the output elsewhere"
    if folder and (real == Path.cwd().resolve() or real in Path.cwd().resolve().parents):
        return "is the current folder or holds it, which replacing it would delete; name another folder"
    if suffixes and path.suffix.lower() not in suffixes:
        return f"is not a {' or '.join(suffixes)} file, which is what is written; name a {suffixes[0]} file"
    if folder and path.is_symlink():
        return LINKED_FOLDER.format(target=real)
    if os.path.lexists(path):
        problem = path_problem(path, folder)
        if problem is not None:
            return f"{problem}; choose another {'folder' if folder else 'file'}"
        if not force:
            return EXISTS_WITHOUT_FORCE
    return destination_problem(real if path.is_symlink() else path)  # a file link's target is written


def foreign_folder_problem(
    out: Path, ours: Callable[[Path], bool], what: str, use: str = "replace",
    differs: Callable[[Path], str] | None = None,
) -> str | None:
    """Why a command may not fill the -o folder `out` (None: it may): it may be new, empty, or a folder the
    command wrote before (ours(out)); a folder holding anything else is the user's, never replaced or written
    into, whatever --force says. `what` names the command's output ("a SEAN package (...)"), `use` what it
    does with an earlier one, `differs` (optional) what sets the folder apart from one ("holds notes.txt")."""
    if out.is_dir() and any(out.iterdir()) and not ours(out):
        found = f"and {differs(out)}, so it" if differs is not None else "and"
        return f"{out} exists {found} is not {what}; refusing to {use} it: choose another -o folder or remove it"
    return None


def destination_problem(path: str | Path) -> str | None:
    """Why `path` cannot be created (its folder is a file, or no file can be created where its folder is or
    would be made), as the end of a sentence that starts with the path; None when it can. Leaves nothing."""
    ancestor = Path(path).parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if path_problem(ancestor, folder=True) is not None:
        return f"cannot be written: {ancestor} is not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{Path(path).name}.", suffix=".probe", dir=ancestor)
    except OSError as exc:
        return f"cannot be written: no file can be created in {ancestor} ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None


def make_dirs(folder: str | Path) -> Path:
    """mkdir -p with a one-line FileWriteError (a file in the way, a read-only file system, ...)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise FileWriteError(f"cannot create the folder {folder}: a file of that name is in the way") from exc
    except OSError as exc:
        raise write_problem(folder, exc) from exc
    return folder


class ExistsError(FileWriteError, FileExistsError):
    """An exclusive write found the file already there (made by someone else meanwhile)."""


def atomic_write(path: str | Path, write: Callable[[Path], None], exclusive: bool = False) -> Path:
    """Call write(tmp_path) on a temporary file beside `path`, fsync it, then rename it into place.

    A crash at any moment leaves either the old file or the new one, never a partial file. A file
    system error (read-only, full, a folder in the way, ...) is a FileWriteError naming the path.
    exclusive: the file must not exist yet, and of several processes writing it at once exactly one
    succeeds; the others get ExistsError and leave the file as the winner wrote it (_link_new).
    A `path` that is a symbolic link is written through: its target is replaced and the link kept, as `cp`
    and a shell's `>` do (renaming over the link would swap it for a file and leave its target as it was).
    """
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    make_dirs(path.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_problem(path, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, _default_mode())  # mkstemp creates 0600; give the file the usual umask mode
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if exclusive:
            _link_new(tmp, path)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, SeanError):  # already says what is wrong
            raise
        if isinstance(exc, FileExistsError):
            raise ExistsError(f"{path} exists (written by another process meanwhile)") from exc
        if path.is_dir():
            raise FileWriteError(f"cannot write {path}: a folder of that name is in the way") from exc
        raise write_problem(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def _link_new(tmp: Path, path: Path) -> None:
    """Give the finished file `tmp` the name `path` only if no file has it (FileExistsError if one does).

    A hard link is made in one step that fails when the name exists (whatever raced for it), and shows
    the complete file at once. Where the file system has no hard links, the name is first taken by
    creating an empty file with O_EXCL, which the finished file then replaces.
    """
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.replace(tmp, path)
    else:
        tmp.unlink()


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def usual_permissions(folder: Path) -> None:
    """Give a folder made by work_folder (tempfile: 0700) and its files the modes of normally created
    ones (umask applied): a package or a published model is copied to servers and read by other users."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~umask)


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry (after a rename) so the rename survives a power loss."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, exclusive: bool = False) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), exclusive)


def atomic_write_text(path: str | Path, text: str, exclusive: bool = False) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), exclusive)


def atomic_write_json(path: str | Path, data: Any, exclusive: bool = False) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n", exclusive)


def read_json(path: str | Path, error: Callable[[str], SeanError], fix: str) -> Any:
    """The parsed JSON of a file; anything unreadable (missing, not UTF-8, broken, nested too deeply)
    is error(message) naming the file, the reason and `fix`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{path} is missing; {fix}") from exc
    except OSError as exc:
        raise error(f"{path} cannot be read ({exc.strerror or exc}); {fix}") from exc
    except RecursionError as exc:
        raise error(f"{path} is not valid JSON (nested too deeply); {fix}") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise error(f"{path} is not valid JSON ({exc}); {fix}") from exc


@contextlib.contextmanager
def file_lock(path: str | Path, holder: str, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the `with` block; without `wait`, raise LockedError if taken.

    The lock is an fcntl.flock, so the kernel releases it when the process ends, however it ends
    (kill -9 included): a stale lock never blocks anyone. A file (created if needed) records the
    holder's pid; a folder is locked as it is, leaving nothing behind. `holder` says, for the error
    message, who holds the lock ("another process trains runs/x").
    """
    path = Path(path)
    folder = path.is_dir()
    try:
        fd = os.open(path, os.O_RDONLY) if folder else os.open(make_dirs(path.parent) / path.name,
                                                               os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise write_problem(path, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = "" if folder else os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise LockedError(f"{holder} (pid {pid or '?'}, lock {path}); wait for it to finish") from None
        if not folder:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --- folders replaced as a whole (packages, model repositories) -------------------------------------

WORK_KINDS = ("build", "old")  # a folder being built; an earlier folder moved aside while the new one moves in
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # renameat2 flag (Linux 3.15+): swap two names in one step


def work_folder(out: Path, kind: str) -> Path:
    """A new hidden folder beside `out` whose name records this process: .NAME.KIND.PID.XXXX (kind in WORK_KINDS)."""
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.{kind}.{os.getpid()}.", dir=out.parent))
    except OSError as exc:
        raise write_problem(out, exc) from exc


def work_folders(out: Path) -> list[tuple[Path, str, int]]:
    """The work folders of `out` that lie beside it: (folder, kind, pid of the process that made it), by name."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.({'|'.join(WORK_KINDS)})\.(\d+)\.[^.]+$")
    try:
        entries = sorted(out.parent.iterdir())
    except OSError:  # no parent folder, or one that cannot be listed: nothing to find
        return []
    found = []
    for path in entries:
        match = pattern.match(path.name)
        if match and path.is_dir() and not path.is_symlink():
            found.append((path, match.group(1), int(match.group(2))))
    return found


def _renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not Linux, or a C library without it (glibc < 2.28)
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def exchange(a: Path, b: Path) -> bool:
    """Swap the names of two existing paths in one step (renameat2 with RENAME_EXCHANGE): at every moment,
    a crash included, each name holds one of the two. False, with nothing changed, where the OS or the
    file system cannot (not Linux, an old kernel or C library, a file system without the flag)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def remove_swapped(path: Path) -> None:
    """Delete what replace_folder swapped out of `out`'s place: a folder, or a link (or file) the folder
    replaced, which rmtree refuses (leaving a .NAME.build. link behind that no later run removes)."""
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def replace_folder(built: Path, out: Path) -> None:
    """Move the finished folder `built` to `out`; an earlier folder at `out` is swapped out, then deleted.

    With exchange() `out` names the earlier or the new folder at every moment; a kill after the swap
    leaves the earlier one in `built`'s place, a work folder that clean_work_folders deletes. Without it
    the earlier folder is renamed to .NAME.old.PID.X first and `built` to `out` next: a kill between the
    two leaves no `out`, and restore_swapped_out (or recover_folder, for readers) puts the earlier one back.
    Callers hold the lock of out's parent folder (folder_lock), as recover_folder does.
    """
    if not out.exists():
        built.rename(out)
        return
    if exchange(built, out):
        fsync_dir(out.parent)
        remove_swapped(built)
        return
    old = work_folder(out, "old")
    old.rmdir()
    out.rename(old)
    try:
        built.rename(out)
    except BaseException:
        old.rename(out)
        raise
    fsync_dir(out.parent)
    remove_swapped(old)


def swapped_out(out: Path) -> Path | None:
    """When `out` is missing: the folder a killed replace_folder moved aside (the newest .old. folder of a
    process that is gone), else None."""
    if os.path.lexists(out):
        return None
    aside = [path for path, kind, pid in work_folders(out) if kind == "old" and not process_alive(pid)]
    return max(aside, key=lambda path: path.stat().st_mtime, default=None)


def restore_swapped_out(out: Path) -> Path | None:
    """Undo a replace_folder killed between its two renames: move swapped_out(out) back to `out`.
    Returns `out` when it did. The caller holds folder_lock(out)."""
    aside = swapped_out(out)
    if aside is None:
        return None
    aside.rename(out)
    fsync_dir(out.parent)
    return out


def clean_work_folders(out: Path) -> None:
    """Remove the work folders of `out` whose process is gone (killed mid-way), after restore_swapped_out:
    a build folder, or an earlier folder that was swapped out, is deleted. The caller holds folder_lock(out)."""
    restore_swapped_out(out)
    for path, _, pid in work_folders(out):
        if not process_alive(pid):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Turns for everyone who moves folders into `out`'s place or repairs it (waits; nothing left behind).

    The lock is on the parent folder, held only for the short steps of cleaning up, checking and swapping.
    """
    with file_lock(make_dirs(out.parent), f"another process is moving a folder into {out.parent}", wait=True):
        yield


def move_into_place(build: Path, out: Path, check: Callable[[], None] | None = None) -> None:
    """Move the finished folder `build` to `out` (replace_folder), taking turns with every other process
    that moves a folder there or repairs it (folder_lock); check() runs first under the lock, to refuse a
    destination that another process changed meanwhile."""
    with folder_lock(out):
        if check is not None:
            check()
        replace_folder(build, out)


@contextlib.contextmanager
def building_folder(out: Path, check: Callable[[], None] | None = None) -> Iterator[Path]:
    """Build the folder `out` out of sight: yields a new work folder beside it (after removing those of
    builders that were killed); when the block ends, the folder gets the usual permissions and moves into
    place (move_into_place, with `check`); on any error it is removed and `out` is left as it was."""
    with folder_lock(out):
        clean_work_folders(out)
        build = work_folder(out, "build")
    try:
        yield build
        usual_permissions(build)
        move_into_place(build, out, check)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def recover_folder(out: Path) -> Path | None:
    """For readers of `out`: when a replace_folder was killed between its two renames (so `out` is missing),
    put the earlier folder back under folder_lock. Returns `out` when it is there again, None when there was
    nothing to recover; FileWriteError names the folder set aside when it cannot be moved back."""
    aside = swapped_out(out)
    if aside is None:
        return None
    try:
        with folder_lock(out):
            if os.path.lexists(out) or restore_swapped_out(out) is not None:
                return out
    except OSError as exc:
        raise FileWriteError(
            f"{out} was being replaced when its writer was killed, and the earlier one set aside in {aside} "
            f"cannot be moved back ({exc.strerror or exc}); move it back with `mv {aside} {out}`"
        ) from exc
    return None


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a pid of another user's process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
