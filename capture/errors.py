"""Errors raised by the core, and the exit codes the CLI turns them into."""

from __future__ import annotations

from enum import IntEnum

from capture.escape import visible

__all__ = [
    "CaptureError",
    "DataError",
    "ExitCode",
    "NotFoundError",
    "OutputError",
    "StorageError",
    "UsageError",
]


class ExitCode(IntEnum):
    """Process exit codes; one place so scripts and docs agree."""

    OK = 0  # the run completed (or a read command succeeded)
    FAILURES = 1  # --fail-exit: the run completed but stored at least one failure
    USAGE = 2  # bad options or input; nothing was sent and no data was touched
    DATA = 3  # the database is missing, unreadable, not a capture file, or too new
    NOT_FOUND = 4  # a run or failure id that does not exist
    STORAGE = 5  # the run could not store what it captured (disk full, locked file)
    PROCESS_LOST = 6  # --procs: a process of the run was killed (SIGKILL, out of memory)
    INTERNAL = 70  # a bug in capture (EX_SOFTWARE); CAPTURE_DEBUG=1 shows the traceback
    # Standard output could not be written: a full disk, /dev/full, a closed descriptor
    # (EX_IOERR). Not 5: that one means captured data was lost, and nothing was here.
    OUTPUT = 74
    INTERRUPTED = 130  # the run was stopped by SIGINT/SIGTERM (128 + SIGINT, as shells do)


class CaptureError(Exception):
    """Base class of the errors the CLI reports as one line and an exit code."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        # Messages quote user input and file contents; they go to a terminal as one line.
        message = visible(message, one_line=True)
        super().__init__(message)
        self.message = message


class UsageError(CaptureError):
    """Bad command-line input: a malformed option, URL, file or combination."""

    exit_code = ExitCode.USAGE


class DataError(CaptureError):
    """The database cannot be read: missing, not SQLite, not capture's, or too new."""

    exit_code = ExitCode.DATA


class NotFoundError(CaptureError):
    """A run or failure id that is not in the database."""

    exit_code = ExitCode.NOT_FOUND


class StorageError(CaptureError):
    """Captured data could not be written."""

    exit_code = ExitCode.STORAGE


class OutputError(CaptureError):
    """Standard output could not be written (a reader that went away is not one)."""

    exit_code = ExitCode.OUTPUT
