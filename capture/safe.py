"""Look at a path the user named before opening it: a FIFO or a device must never hang
capture, and an output file must never replace the database it was made from.

(Escaping untrusted text for a terminal is capture.escape.)"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from capture.errors import StorageError, UsageError

__all__ = [
    "kind_of",
    "read_head",
    "regular_or_missing",
    "write_output",
]

SQLITE_MAGIC = b"SQLite format 3\x00"
# The first bytes of the files SQLite keeps beside a database (sqlite.org/fileformat.html):
# a write-ahead log (magic 0x377f0682 or 0x377f0683, big-endian), a rollback journal, and
# the WAL index (-shm), whose header starts with version 3007000 in the machine's order.
_SIDECAR_MAGICS = (
    (b"\x37\x7f\x06\x82", "a SQLite write-ahead log"),
    (b"\x37\x7f\x06\x83", "a SQLite write-ahead log"),
    (b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7", "a SQLite rollback journal"),
    ((3007000).to_bytes(4, sys.byteorder), "a SQLite WAL index"),
)
_SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")  # SQLite opens X-wal... beside X
# Errors of a full or failing disk: the data could not be stored (exit 5), not bad input.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG})

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse(message: str) -> Exception:
    return UsageError(message)


def _write_error(what: str, path: Path, exc: OSError) -> Exception:
    kind = StorageError if exc.errno in _STORAGE_ERRNOS else UsageError
    return kind(f"{what} {str(path)!r}: cannot write ({exc.strerror})")


def kind_of(mode: int) -> str:
    """Returns what a stat mode describes, for messages: 'a FIFO', 'a directory'..."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def regular_or_missing(path: Path, *, what: str) -> os.stat_result | None:
    """Returns a regular file's stat (symlinks followed), or None when nothing is there.

    Refuses anything else without opening it: opening a FIFO to read blocks until a
    writer comes, and /dev/zero never ends.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a loop of symlinks, a file used as a directory, no permission
        raise _refuse(f"{what} {str(path)!r}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(f"{what} {str(path)!r} is {kind_of(info.st_mode)}, not a regular file")
    return info


def read_head(path: Path, size: int, *, what: str) -> bytes:
    """Returns the first bytes of a regular file, opened so that it cannot block."""
    # O_NONBLOCK: if the path was swapped for a FIFO since it was looked at, open()
    # returns at once instead of waiting for a writer; fstat then refuses it.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse(f"{what} {str(path)!r} is {kind_of(mode)}, not a regular file")
        return os.read(fd, size)
    finally:
        os.close(fd)


def write_output(
    path: Path, lines: Iterable[str], *, protect: Sequence[Path], what: str = "--output"
) -> None:
    """Writes lines to a file through a temporary file and a rename, or straight into a
    FIFO or a character device (/dev/null, a terminal).

    Refuses a directory, a socket, a block device, any existing SQLite file, log,
    journal or WAL index, a name SQLite would open beside a database (X-wal, X-shm or
    X-journal when X is a SQLite file), and every path in protect (the database being
    read, its -wal and -shm), compared by resolved path and by device and inode, so a
    symlink or a hard link cannot get past it.
    """
    try:
        info: os.stat_result | None = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _refuse(f"{what} {str(path)!r}: {exc.strerror}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode):
            _write_stream(path, lines, what=what)
            return
        raise _refuse(f"{what} {str(path)!r} is {kind_of(info.st_mode)}, not a regular file")
    target = Path(os.path.realpath(path))  # a symlink's target is replaced, not the link
    for other in protect:
        if _same_file(target, info, other):
            raise _refuse(f"{what} {str(path)!r} is the database being read ({other.name})")
    if info is not None and (kind := _sqlite_kind(target)) is not None:
        raise _refuse(f"{what} {str(path)!r} is {kind}: refusing to overwrite it")
    for name in (Path(os.path.abspath(path)), target):
        if (database := _database_beside(name)) is not None:
            raise _refuse(
                f"{what} {str(path)!r} is where SQLite keeps the {name.name[len(database.name) :]}"
                f" file of the database {database.name!r}: refusing to write it"
            )
    if not target.parent.is_dir():
        raise _refuse(f"{what} {str(path)!r}: directory does not exist")
    _replace(target, lines, what=what)


def _same_file(target: Path, info: os.stat_result | None, other: Path) -> bool:
    if Path(os.path.realpath(other)) == target:
        return True
    try:
        theirs = other.stat()
    except OSError:
        return False
    return info is not None and (info.st_dev, info.st_ino) == (theirs.st_dev, theirs.st_ino)


def _is_sqlite(path: Path) -> bool:
    return _head(path).startswith(SQLITE_MAGIC)


def _head(path: Path) -> bytes:
    try:
        return read_head(path, len(SQLITE_MAGIC), what="--output")
    except OSError:  # unreadable or missing: writing it fails on its own, with its message
        return b""


def _sqlite_kind(path: Path) -> str | None:
    """Returns what SQLite file path is ('a SQLite database'...), or None if none."""
    head = _head(path)
    if head.startswith(SQLITE_MAGIC):
        return "a SQLite database"
    return next((kind for magic, kind in _SIDECAR_MAGICS if head.startswith(magic)), None)


def _database_beside(path: Path) -> Path | None:
    """Returns the SQLite file whose -wal, -shm or -journal path is, if there is one.

    Written there, even a new file is read by SQLite as that database's log or journal
    on its next open, and an existing one held its committed rows.
    """
    for suffix in _SIDECAR_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            database = path.with_name(path.name.removesuffix(suffix))
            if database.is_file() and _is_sqlite(database):
                return database
    return None


def _replace(target: Path, lines: Iterable[str], *, what: str) -> None:
    # A crash or a full disk midway leaves the old file (or none), never half a file.
    # mkstemp creates the file 0600: bodies and headers, readable by the owner only.
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(what, target, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(what, target, exc) from None
        raise


def _write_stream(path: Path, lines: Iterable[str], *, what: str) -> None:
    # O_NONBLOCK: opening a FIFO nobody reads fails at once (ENXIO) instead of waiting.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise _refuse(f"{what} {str(path)!r} is a FIFO that nobody reads") from None
        raise _write_error(what, path, exc) from None
    os.set_blocking(fd, True)  # once open, a slow reader slows the writes, as on stdout
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
    except OSError as exc:  # /dev/full: ENOSPC; a reader that went away: EPIPE
        raise _write_error(what, path, exc) from None
