"""One run per results file: an advisory lock (fcntl) held for the whole run.

The lock lives on a small hidden file beside the results (`.results.jsonl.lock`), not on the
results file itself, which `--no-resume` renames away. The file holds the pid of the run holding
it, so a second run can say whom it waits for; the lock itself is the kernel's and goes with the
process, however it ends (a killed run never leaves a stale lock).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from ..errors import UsageError


def lock_path(results_path: str | os.PathLike) -> Path:
    path = Path(results_path)
    return path.with_name(f".{path.name}.lock")


class ResultsLock:
    """`with ResultsLock(results):` holds the results file for this process or raises UsageError."""

    def __init__(self, results_path: str | os.PathLike) -> None:
        self.results_path = Path(results_path)
        self.path = lock_path(results_path)
        self._fd: int | None = None

    def acquire(self) -> "ResultsLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise UsageError(
                f"{self.results_path} is in use by another run (pid {holder}); wait for it to finish, or choose another --output_jsonl"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None

    def __enter__(self) -> "ResultsLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
