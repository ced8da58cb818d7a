"""File helpers shared by every package: atomic writes, JSON files, locks and hashes (numpy-free, torch-free)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sean_core.errors import FileWriteError, LockedError, SeanError


def write_problem(path: Path, exc: OSError) -> FileWriteError:
    """One line naming the path and the reason an OSError gives (read-only or full file system, ...)."""
    return FileWriteError(f"cannot write {path}: {exc.strerror or exc}")


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


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call write(tmp_path) on a temporary file beside `path`, fsync it, then rename it into place.

    A crash at any moment leaves either the old file or the new one, never a partial file. A file
    system error (read-only, full, a folder in the way, ...) is a FileWriteError naming the path.
    """
    path = Path(path)
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
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, SeanError):  # already says what is wrong
            raise
        if path.is_dir():
            raise FileWriteError(f"cannot write {path}: a folder of that name is in the way") from exc
        raise write_problem(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


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
