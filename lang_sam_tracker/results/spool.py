"""Per-frame data on disk while a video runs, so neither the worker nor the parent holds it.

A worker writes each frame's entries as they are produced: into the JSON text of the record's
`frames` array (`ArraySpool`), regrouped per object for `--group_by object` (`ObjectArraySpool`),
or into a sidecar file with one frame per line (`LineSpool`). The record then holds a
`SpooledArray` (a path) where the array would be, and the parent streams that file into the
results line (`jsonl.JsonlAppender`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from .jsonstream import JsonCursor

_COPY_CHUNK = 1 << 20
_SEP = b", "


def dumps(value: Any) -> bytes:
    """One JSON value as the results file writes it (UTF-8, ensure_ascii=False, no NaN)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


@dataclass(frozen=True)
class SpooledArray:
    """A JSON array that lives in a file (its exact JSON text) instead of in memory; pickles as a path."""

    path: str
    count: int

    def chunks(self, size: int = _COPY_CHUNK) -> Iterator[bytes]:
        """The array's JSON text in pieces of at most `size` bytes."""
        with open(self.path, "rb") as f:
            while piece := f.read(size):
                yield piece

    def __iter__(self) -> Iterator[Any]:
        """The items, parsed one at a time."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            yield from JsonCursor(fd).items()
        finally:
            os.close(fd)

    def load(self) -> list:
        """The whole array in memory (small videos, tests, backends that ship records inline)."""
        with open(self.path, "rb") as f:
            return json.load(f)

    def discard(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def fsync_dir(path: Path) -> None:
    """Make a newly created (or renamed) file's directory entry durable too."""
    try:
        fd = os.open(Path(path).parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def spool_dir_for(results_path: str | os.PathLike) -> Path:
    """Temporary per-video files of a batch: `.results.jsonl.spool/` beside the results."""
    p = Path(results_path)
    return p.with_name(f".{p.name}.spool")


SIDECAR_SUFFIX = ".frames.jsonl"  # a sidecar file: RESULTS.sidecars/<stem>_<digest>_<token>.frames.jsonl


def sidecar_dir_for(results_path: str | os.PathLike) -> Path:
    """`--sidecar` files: `results.sidecars/` beside `results.jsonl`."""
    p = Path(results_path)
    return p.with_name((p.stem if p.suffix == ".jsonl" else p.name) + ".sidecars")


def spooled_values(record: dict) -> list[SpooledArray]:
    return [v for v in record.values() if isinstance(v, SpooledArray)]


def inline(record: dict) -> dict:
    """The record with every spooled array loaded into memory and its file removed."""
    for key, value in list(record.items()):
        if isinstance(value, SpooledArray):
            record[key] = value.load()
            value.discard()
    return record


def discard(record: dict) -> None:
    """Remove the files of a record's spooled arrays (after it was written, or when it is dropped)."""
    for value in spooled_values(record):
        value.discard()


def _open(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "wb", buffering=_COPY_CHUNK)


class ArraySpool:
    """Items appended one at a time to the JSON text of an array in `path`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._f = _open(self.path)
        self._f.write(b"[")
        self.count = 0

    def add(self, item: bytes) -> None:
        self._f.write(_SEP + item if self.count else item)
        self.count += 1

    def finish(self) -> SpooledArray:
        self._f.write(b"]")
        self._f.close()
        return SpooledArray(str(self.path), self.count)

    def abort(self) -> None:
        self._f.close()
        self.path.unlink(missing_ok=True)


class LineSpool:
    """One JSON text per line (a sidecar file), written to `partial` and renamed to `final` when done."""

    def __init__(self, partial: Path, final: Path) -> None:
        self.partial, self.final = Path(partial), Path(final)
        self._f = _open(self.partial)
        self.count = 0

    def add(self, item: bytes) -> None:
        self._f.write(item + b"\n")
        self.count += 1

    def finish(self) -> Path:
        """Make the file durable under its final name (before any record points at it)."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        self.final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.partial, self.final)
        fsync_dir(self.final)
        return self.final

    def abort(self) -> None:
        self._f.close()
        self.partial.unlink(missing_ok=True)


class ObjectArraySpool:
    """The `--group_by object` array, built as frames arrive.

    Each object's frame items are buffered; when the buffers together pass `buffer_bytes` they are
    flushed to a scratch file as one block per object. `finish` writes the objects in id order,
    each with its blocks in order, so memory is bounded by the buffer and a few offsets per block.
    """

    def __init__(self, path: Path, buffer_bytes: int = 4 << 20) -> None:
        self.path = Path(path)
        self.scratch_path = self.path.with_name(self.path.name + ".blocks")
        self._scratch = _open(self.scratch_path)
        self._scratch_size = 0
        self.buffer_bytes = buffer_bytes
        self._buffers: dict[int, list[bytes]] = {}
        self._buffered = 0
        self._blocks: dict[int, list[tuple[int, int]]] = {}  # obj_id -> (offset, length) in the scratch file
        self._headers: dict[int, dict] = {}

    def add(self, obj_id: int, header: dict, item: bytes) -> None:
        """One frame of object `obj_id`; `header` (obj_id, label, score) replaces the previous one."""
        first = obj_id not in self._headers
        self._headers[obj_id] = header
        piece = item if first else _SEP + item
        self._buffers.setdefault(obj_id, []).append(piece)
        self._buffered += len(piece)
        if self._buffered >= self.buffer_bytes:
            self._flush()

    def _flush(self) -> None:
        for obj_id, pieces in self._buffers.items():
            data = b"".join(pieces)
            self._scratch.write(data)
            self._blocks.setdefault(obj_id, []).append((self._scratch_size, len(data)))
            self._scratch_size += len(data)
        self._buffers.clear()
        self._buffered = 0

    def finish(self) -> SpooledArray:
        self._flush()
        self._scratch.close()
        out = _open(self.path)
        try:
            out.write(b"[")
            with open(self.scratch_path, "rb") as scratch:
                for n, obj_id in enumerate(sorted(self._headers)):
                    head = dumps(self._headers[obj_id])
                    out.write((_SEP if n else b"") + head[:-1] + b', "frames": [')
                    for offset, length in self._blocks.get(obj_id, []):
                        scratch.seek(offset)
                        while length > 0:
                            piece = scratch.read(min(length, _COPY_CHUNK))
                            out.write(piece)
                            length -= len(piece)
                    out.write(b"]}")
            out.write(b"]")
        finally:
            out.close()
            self.scratch_path.unlink(missing_ok=True)
        return SpooledArray(str(self.path), len(self._headers))

    def abort(self) -> None:
        self._scratch.close()
        self.scratch_path.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
