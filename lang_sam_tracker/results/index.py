"""A small index beside the results file, so resume and merge read keys, not records.

`results.jsonl.idx` holds one JSON line per line of `results.jsonl`: its byte range, a hash of its
first bytes, and, for a record, the few keys resume and merge need (video_path, resolved_path,
text_prompt, meta.config_hash, sidecar). Reading it costs a small read per record, whatever the
records' size. It is checked against the results file on every load (contiguous ranges, each
range's first bytes and final newline), so an index that does not match, because the results were
edited, repaired or written by an older version, is trusted only as far as it matches; the rest
of the results is scanned once, streaming (bounded memory however long a line is), and the index
is brought up to date.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from .jsonstream import JsonCursor
from .keys import record_key

logger = logging.getLogger(__name__)

_HEAD_HASH_BYTES = 256
_SMALL_LINE = 64 * 1024  # lines up to this size are parsed whole
_TAIL_BYTES = 64 * 1024  # where meta is looked for in a long line
_SCAN_CHUNK = 1 << 20
_BODY_KEYS = ("frames", "objects")
_WANTED = ("video_path", "resolved_path", "text_prompt", "sidecar")


def index_path(results_path: str | os.PathLike) -> Path:
    """`results.jsonl` -> `results.jsonl.idx` (not `*.jsonl`, so shard globs never match it)."""
    p = Path(results_path)
    return p.with_name(p.name + ".idx")


def head_hash(data: bytes) -> str:
    return hashlib.sha1(data[:_HEAD_HASH_BYTES]).hexdigest()[:16]


@dataclass
class IndexEntry:
    """One line of the results file; the keys are None for a line that is not a record."""

    offset: int
    length: int  # bytes, newline included
    head: str  # head_hash of the line's first bytes
    video_path: str | None = None
    text_prompt: str | None = None
    resolved_path: str | None = None
    config_hash: str | None = None
    sidecar: str | None = None

    @property
    def end(self) -> int:
        return self.offset + self.length

    @property
    def is_record(self) -> bool:
        return isinstance(self.video_path, str) and isinstance(self.text_prompt, str)

    def key(self) -> tuple[str, str]:
        return record_key(self.video_path, self.text_prompt, self.resolved_path)

    def to_line(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        return (json.dumps(fields, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_record(cls, record: dict, offset: int, length: int, head: str) -> "IndexEntry":
        meta = record.get("meta")
        entry = cls(offset, length, head)
        _take_keys(entry, record)
        entry.config_hash = _str(meta.get("config_hash")) if isinstance(meta, dict) else None
        return entry


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def _take_keys(entry: IndexEntry, record: dict) -> None:
    for key in _WANTED:
        setattr(entry, key, _str(record.get(key)))


def load_entries(results_path: str | os.PathLike, update: bool = True) -> list[IndexEntry]:
    """Every complete line of the results file, from the index where it matches, scanned beyond.

    With `update`, the index file is rewritten or extended to match (silently skipped where it
    cannot be written). A missing results file has no entries.
    """
    results = Path(results_path)
    try:
        fd = os.open(results, os.O_RDONLY)
    except FileNotFoundError:
        return []
    try:
        size = os.fstat(fd).st_size
        stored = _read_index(index_path(results))
        valid = _validate(fd, size, stored)
        covered = valid[-1].end if valid else 0
        scanned = list(scan(fd, covered, size)) if covered < size else []
    finally:
        os.close(fd)
    if scanned and covered == 0 and not stored:
        logger.debug("%s: indexed %d lines", results, len(scanned))
    if update and (len(valid) != len(stored) or scanned):
        _write_index(index_path(results), valid, scanned, rewrite=len(valid) != len(stored))
    return valid + scanned


def _read_index(path: Path) -> list[IndexEntry]:
    entries = []
    try:
        with open(path, "rb") as f:
            for raw in f:
                try:
                    entries.append(IndexEntry(**json.loads(raw)))
                except (ValueError, TypeError):
                    break  # a torn or foreign line: trust nothing after it
    except FileNotFoundError:
        pass
    return entries


def _validate(fd: int, size: int, entries: list[IndexEntry]) -> list[IndexEntry]:
    """The leading entries that still describe the results file, byte for byte where checked."""
    valid: list[IndexEntry] = []
    position = 0
    for entry in entries:
        if entry.offset != position or entry.length < 1 or entry.end > size:
            break
        first = os.pread(fd, min(entry.length, _HEAD_HASH_BYTES), entry.offset)
        if head_hash(first) != entry.head or os.pread(fd, 1, entry.end - 1) != b"\n":
            break
        valid.append(entry)
        position = entry.end
    return valid


def _write_index(path: Path, valid: list[IndexEntry], new: list[IndexEntry], rewrite: bool) -> None:
    try:
        if rewrite:
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "wb") as f:
                for entry in valid + new:
                    f.write(entry.to_line())
            os.replace(tmp, path)
        else:
            with open(path, "ab") as f:
                for entry in new:
                    f.write(entry.to_line())
    except OSError as exc:
        logger.debug("could not write %s: %s", path, exc)


def append_entry(results_path: str | os.PathLike, entry: IndexEntry) -> None:
    """Add the entry of a line just appended to the results (not fsynced: a lost entry is rescanned)."""
    try:
        with open(index_path(results_path), "ab") as f:
            f.write(entry.to_line())
    except OSError as exc:
        logger.debug("could not update the index of %s: %s", results_path, exc)


def scan(fd: int, start: int, end: int) -> Iterator[IndexEntry]:
    """Entries of the complete lines in [start, end), reading in chunks: memory is bounded whatever
    a line's length. A last line without its newline (torn) is not a line yet."""
    line_start = start
    head = b""
    position = start
    while position < end:
        chunk = os.pread(fd, min(_SCAN_CHUNK, end - position), position)
        if not chunk:
            break
        cut = 0
        while True:
            newline = chunk.find(b"\n", cut)
            if newline < 0:
                if len(head) < _SMALL_LINE + 1:
                    head += chunk[cut : cut + _SMALL_LINE + 1 - len(head)]
                break
            if len(head) < _SMALL_LINE + 1:
                head += chunk[cut : min(newline + 1, cut + _SMALL_LINE + 1 - len(head))]
            line_end = position + newline + 1
            yield _entry(fd, line_start, line_end, head)
            line_start, head, cut = line_end, b"", newline + 1
        position += len(chunk)


def _entry(fd: int, start: int, end: int, head: bytes) -> IndexEntry:
    entry = IndexEntry(start, end - start, head_hash(head))
    if end - start <= _SMALL_LINE:
        try:
            record = json.loads(head.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            logger.warning("results line at byte %d is not JSON: skipped", start)
            return entry
        if isinstance(record, dict):
            entry = IndexEntry.from_record(record, start, end - start, entry.head)
        return entry
    try:
        _long_line_keys(fd, entry)
    except ValueError as exc:
        logger.warning("results line at byte %d: %s; skipped", start, exc)
    return entry


def _long_line_keys(fd: int, entry: IndexEntry) -> None:
    """Keys of a long line: the leading members up to the frames, and meta from the line's tail."""
    cursor = JsonCursor(fd, entry.offset, entry.end, chunk=_SMALL_LINE)
    found: dict = {}
    for key in cursor.members():
        if key in _BODY_KEYS:
            break
        if key == "meta":
            meta = cursor.value()
            entry.config_hash = _str(meta.get("config_hash")) if isinstance(meta, dict) else None
            continue
        value = cursor.value()
        if key in _WANTED:
            found[key] = value
    _take_keys(entry, found)
    if entry.config_hash is None:
        tail_at = max(entry.offset, entry.end - _TAIL_BYTES)
        tail = os.pread(fd, entry.end - tail_at, tail_at)
        at = tail.rfind(b'"meta":')
        if at >= 0:
            meta_cursor = JsonCursor(fd, tail_at + at + len(b'"meta":'), entry.end)
            try:
                meta = meta_cursor.value()
            except ValueError:
                meta = None
            entry.config_hash = _str(meta.get("config_hash")) if isinstance(meta, dict) else None
