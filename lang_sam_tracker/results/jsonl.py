"""Durable JSONL results and the failure ledger (only the parent process writes).

Each record is one `os.write` of a whole line to an O_APPEND file, then fsync, so a kill at any
moment leaves at worst one torn last line, which the next open cuts back to the last newline.
A record whose frames were spooled to disk (`spool.SpooledArray`) is streamed into its line in
pieces instead; a failure part-way cuts the file back to where the line began.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from . import index as results_index
from ..detectors.prompt import normalise_prompt
from .keys import resume_key  # noqa: F401 - re-exported: the resume rule lives in keys
from .spool import SpooledArray, dumps, fsync_dir

logger = logging.getLogger(__name__)

_TAIL_CHUNK = 64 * 1024
_COPY_CHUNK = 1 << 20


def failures_path(results_path: str | os.PathLike) -> Path:
    """The ledger beside the results: results.jsonl -> results.failed.jsonl."""
    p = Path(results_path)
    if p.suffix == ".jsonl":
        return p.with_name(p.stem + ".failed.jsonl")
    return p.with_name(p.name + ".failed.jsonl")


def _repair_torn_tail(path: Path) -> int:
    """Make the file end with a newline: a trailing partial line is cut back to the last newline.

    A short last line that is a complete JSON object (only its newline missing, e.g. an edited file)
    is kept and given its newline. Returns the bytes removed.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return 0
        end = size
        while end > 0:  # scan back chunk by chunk for the last newline
            start = max(0, end - _TAIL_CHUNK)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            end = start + newline + 1 if newline >= 0 else start
            if newline >= 0:
                break
        if size - end <= _TAIL_CHUNK and _is_json_object(os.pread(fd, size - end, end)):
            os.pwrite(fd, b"\n", size)
            os.fsync(fd)
            return 0
        os.ftruncate(fd, end)
        os.fsync(fd)
        return size - end
    finally:
        os.close(fd)


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data.decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


class JsonlAppender:
    """Append records as whole lines, each fsynced; repairs a torn trailing line when opened.

    With `index`, the results index beside the file (`results_index`) is brought up to date on
    open and extended with every record. The line is the record: once it is written and fsynced,
    a failure to update the index is logged and the index is left for the next open to rebuild
    from the file (it checks the index against the file), never raised as the record's failure.
    """

    def __init__(self, path: str | os.PathLike, index: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        removed = _repair_torn_tail(self.path)
        if removed:
            logger.warning("%s: removed a partial last line (%d bytes) left by an interrupted run", self.path, removed)
        existed = self.path.exists()
        self.index = index
        if index:
            results_index.load_entries(self.path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if not existed:
            fsync_dir(self.path)

    def append(self, record: dict) -> None:
        """Write one record as one line (UTF-8, ensure_ascii=False) and fsync it.

        Spooled arrays in the record are streamed from their files; if anything fails part-way,
        the file is cut back to where the line began and the error is raised.
        """
        start, length, head = self._write_line(serialise(record))
        if self.index:
            self._index_line(lambda: results_index.IndexEntry.from_record(record, start, length, results_index.head_hash(head)))

    def copy_line(self, source_fd: int, entry: results_index.IndexEntry) -> None:
        """Append the line `entry` describes, copied byte for byte from another results file (merge)."""

        def pieces() -> Iterator[bytes]:
            done = 0
            while done < entry.length:
                piece = os.pread(source_fd, min(_COPY_CHUNK, entry.length - done), entry.offset + done)
                if not piece:
                    raise ValueError(f"{self.path}: the source line ended early")
                done += len(piece)
                yield piece

        start, _, _ = self._write_line(pieces())
        if self.index:
            self._index_line(lambda: dataclasses.replace(entry, offset=start))

    def _index_line(self, make_entry) -> None:
        """Add the entry of the line just written to the index; on failure stop indexing (the
        next open rebuilds the index from the results file) and say so, without raising."""
        try:
            results_index.append_entry(self.path, make_entry())
        except Exception as exc:  # the line is written and fsynced: it is the record whatever the index says
            self.index = False
            logger.warning(
                "%s: could not update its index (%s); the record is written, and the index is rebuilt from the results on next open",
                self.path, exc,
            )

    def _write_line(self, pieces: Iterable[bytes]) -> tuple[int, int, bytes]:
        """Write the pieces of one line and fsync; on any failure cut the file back. Returns the
        line's offset, its length and its first bytes (for the index)."""
        if self._fd is None:
            raise ValueError(f"{self.path}: appender is closed")
        start = os.lseek(self._fd, 0, os.SEEK_END)
        length = 0
        head = b""
        try:
            for piece in pieces:
                if len(head) < 256:
                    head += piece[: 256 - len(head)]
                view = memoryview(piece)
                while view:  # a regular file takes it in one write; loop only in case the kernel says otherwise
                    written = os.write(self._fd, view)
                    view = view[written:]
                length += len(piece)
            os.fsync(self._fd)
        except BaseException:
            if length:
                os.ftruncate(self._fd, start)
            raise
        return start, length, head

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serialise(record: dict) -> Iterable[bytes]:
    """The record's line (newline included) in pieces: one piece unless arrays are spooled."""
    if not any(isinstance(v, SpooledArray) for v in record.values()):
        yield (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        return
    text = b"{"
    for n, (key, value) in enumerate(record.items()):
        text += (b", " if n else b"") + dumps(str(key)) + b": "
        if isinstance(value, SpooledArray):
            yield text
            text = b""
            yield from value.chunks()
        else:
            text += dumps(value)
    yield text + b"}\n"


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """The JSON objects of a JSONL file, skipping (and logging) lines that are not one."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                logger.warning("%s:%d: skipping an invalid line (%s)", path, lineno, exc)
                continue
            if not isinstance(obj, dict):
                logger.warning("%s:%d: skipping a line that is not a JSON object", path, lineno)
                continue
            yield obj


def load_done(results_path: str | os.PathLike, text_prompt: str | None = None) -> dict[tuple[str, str], str | None]:
    """Resume key (`keys.record_key`) -> the record's meta.config_hash (None if absent) for every
    record in the results file, read from its index (`results_index`), not from the records.

    With `text_prompt`, only that prompt's records. A missing file means nothing is done.
    """
    done: dict[tuple[str, str], str | None] = {}
    for entry in results_index.load_entries(results_path):
        if not entry.is_record:
            continue
        key = entry.key()  # its prompt normalised, as the run's is
        if text_prompt is not None and key[1] != normalise_prompt(text_prompt):
            continue
        done[key] = entry.config_hash
    return done


def record_failure(
    results_path: str | os.PathLike,
    video_path: str,
    text_prompt: str,
    error: str,
    attempts: int,
    resolved_path: str | None = None,
) -> None:
    """Append one line to the failure ledger beside the results file."""
    entry = {
        "video_path": str(video_path),
        "text_prompt": normalise_prompt(text_prompt),
        "error": " ".join(str(error).split()),
        "attempts": int(attempts),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if resolved_path:
        entry["resolved_path"] = resolved_path
    with JsonlAppender(failures_path(results_path)) as ledger:
        ledger.append(entry)


def move_aside(path: str | os.PathLike) -> Path | None:
    """Rename the results file (and its ledger) to an unused `.bak-<time>` name; return where the results went.

    For --no-resume: the old results are kept, never destroyed. None when there was no results file.
    """
    path = Path(path)
    ledger = failures_path(path)
    if not path.exists() and not ledger.exists():
        return None
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    stem = path.stem if path.suffix == ".jsonl" else path.name
    n = 0
    while True:
        tag = f"bak-{stamp}" + (f"-{n}" if n else "")
        target = path.with_name(f"{stem}.{tag}.jsonl")
        if not target.exists() and not failures_path(target).exists():
            break
        n += 1
    moved = None
    if path.exists():
        os.rename(path, target)
        moved = target
        logger.info("moved %s aside to %s", path, target)
    if ledger.exists():
        os.rename(ledger, failures_path(target))
        logger.info("moved %s aside to %s", ledger, failures_path(target))
    results_index.index_path(path).unlink(missing_ok=True)  # derived; the moved file gets a new one on use
    return moved
