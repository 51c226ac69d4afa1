"""Read results back frame by frame, whatever the layout, without loading a whole line.

    from lang_sam_tracker.results.reader import iter_record_lines, iter_frames

    for line in iter_record_lines("results.jsonl"):        # keys only, from the results index
        print(line.video_path, line.text_prompt)
        for frame_idx, time_s, objects in iter_frames(line):  # one frame in memory at a time
            ...

`iter_frames` takes a `RecordLine`, a record already in memory (a dict, e.g. from `json.loads`),
or one JSON line (str / bytes). It yields `FrameRow(frame_idx, time_s, objects)` in frame order,
each object a dict with `obj_id`, `label`, `score`, `bbox` and, when present, `presence` and
`mask`, for all three layouts:

- `--group_by frame` (`"frames"`): every processed frame, with `objects == []` when nothing is seen;
- `--group_by object` (`"objects"`): the objects' frames merged back into frame order; only frames
  where some object is visible appear, and `score` is the object's (its latest confirmation);
- `--sidecar` (`"sidecar"`): the sidecar file's lines; a relative sidecar path is resolved
  against the results file's folder (`base_dir` for a record given as a dict or a line).
"""

from __future__ import annotations

import heapq
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, NamedTuple

from .jsonstream import JsonCursor
from .index import IndexEntry, load_entries
from .spool import SpooledArray

_TRACK_CHUNK = 64 * 1024


class FrameRow(NamedTuple):
    frame_idx: int
    time_s: float
    objects: list[dict]


@dataclass(frozen=True)
class RecordLine:
    """Where one record lies in a results file, and its keys (from the results index)."""

    path: Path
    offset: int
    length: int
    video_path: str
    text_prompt: str
    resolved_path: str | None = None
    config_hash: str | None = None
    sidecar: str | None = None

    @classmethod
    def from_entry(cls, path: Path, e: IndexEntry) -> "RecordLine":
        """The record line of an index entry (`e.is_record`)."""
        return cls(path, e.offset, e.length, e.video_path, e.text_prompt, e.resolved_path, e.config_hash, e.sidecar)

    def read(self) -> dict:
        """The whole record in memory (fine for short videos and sidecar records)."""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return json.loads(f.read(self.length))


def iter_record_lines(results_path: str | os.PathLike) -> Iterator[RecordLine]:
    """The records of a results file in file order, from its index (brought up to date first)."""
    path = Path(results_path)
    for e in load_entries(path):
        if e.is_record:
            yield RecordLine.from_entry(path, e)


def iter_frames(
    record: RecordLine | Mapping[str, Any] | str | bytes, base_dir: str | os.PathLike | None = None
) -> Iterator[FrameRow]:
    """The record's frames in order, one at a time (see the module docstring)."""
    if isinstance(record, RecordLine):
        yield from _frames_of_line(record)
        return
    if isinstance(record, (str, bytes)):
        record = json.loads(record)
    if "frames" in record:
        for f in record["frames"]:  # a list, or a SpooledArray parsed one item at a time
            yield FrameRow(f["frame_idx"], f["time_s"], f["objects"])
    elif "objects" in record:
        tracks = record["objects"]
        if isinstance(tracks, SpooledArray):
            fd = os.open(tracks.path, os.O_RDONLY)
            try:
                yield from _merge_tracks(fd, JsonCursor(fd))
            finally:
                os.close(fd)
        else:
            yield from _merge(((_header(t), iter(t["frames"])) for t in tracks))
    elif "sidecar" in record:
        yield from _sidecar_frames(record["sidecar"], base_dir)
    else:
        raise ValueError("record has no frames, objects or sidecar")


def read_head(line: RecordLine) -> dict:
    """The record without its `frames` / `objects` array (video_info, summary, stats, meta ...)."""
    return read_head_and_layout(line)[0]


def read_head_and_layout(line: RecordLine) -> tuple[dict, str | None]:
    """`read_head`, and the record's layout: "frames", "objects" or "sidecar" (None: none of them)."""
    fd = os.open(line.path, os.O_RDONLY)
    try:
        cursor = JsonCursor(fd, line.offset, line.offset + line.length)
        head = {}
        layout = None
        for key in cursor.members():
            if key in ("frames", "objects"):
                layout = key
                cursor.skip()
            else:
                head[key] = cursor.value()
        if layout is None and "sidecar" in head:
            layout = "sidecar"
        return head, layout
    finally:
        os.close(fd)


def _frames_of_line(line: RecordLine) -> Iterator[FrameRow]:
    fd = os.open(line.path, os.O_RDONLY)
    try:
        cursor = JsonCursor(fd, line.offset, line.offset + line.length)
        for key in cursor.members():
            if key == "frames":
                for f in cursor.items():
                    yield FrameRow(f["frame_idx"], f["time_s"], f["objects"])
                return
            if key == "objects":
                yield from _merge_tracks(fd, cursor)
                return
            if key == "sidecar":
                yield from _sidecar_frames(cursor.value(), line.path.parent)
                return
            cursor.skip()
    finally:
        os.close(fd)
    raise ValueError(f"{line.path}: the record of {line.video_path} has no frames, objects or sidecar")


def _sidecar_frames(path: str, base_dir: str | os.PathLike | None) -> Iterator[FrameRow]:
    sidecar = Path(path)
    if not sidecar.is_absolute():
        sidecar = Path(base_dir or ".") / sidecar
    with open(sidecar, "rb") as f:
        for raw in f:
            if raw.strip():
                frame = json.loads(raw)
                yield FrameRow(frame["frame_idx"], frame["time_s"], frame["objects"])


def _header(track: Mapping[str, Any]) -> dict:
    return {k: v for k, v in track.items() if k != "frames"}


def _merge_tracks(fd: int, cursor: JsonCursor) -> Iterator[FrameRow]:
    """`--group_by object`: one pass notes where each object's frames start (skipping them), then
    one small cursor per object walks its frames while a heap merges them by frame_idx."""
    tracks: list[tuple[dict, int]] = []
    for _ in cursor.positions():
        header: dict = {}
        frames_at = None
        for key in cursor.members():
            if key == "frames":
                cursor.peek()
                frames_at = cursor.offset
                cursor.skip()
            else:
                header[key] = cursor.value()
        if frames_at is not None:
            tracks.append((header, frames_at))
    yield from _merge((h, JsonCursor(fd, at, cursor.end, chunk=_TRACK_CHUNK).items()) for h, at in tracks)


def _merge(tracks) -> Iterator[FrameRow]:
    heap: list = []
    for n, (header, frames) in enumerate(tracks):
        first = next(frames, None)
        if first is not None:
            heap.append((first["frame_idx"], header["obj_id"], n, first, header, frames))
    heapq.heapify(heap)
    while heap:
        frame_idx, time_s, objects = heap[0][0], heap[0][3]["time_s"], []
        while heap and heap[0][0] == frame_idx:
            _, obj_id, n, item, header, frames = heapq.heappop(heap)
            entry = {"obj_id": obj_id, "label": header.get("label"), "score": header.get("score"), "bbox": item["bbox"]}
            for optional in ("presence", "mask"):
                if optional in item:
                    entry[optional] = item[optional]
            objects.append(entry)
            following = next(frames, None)
            if following is not None:
                heapq.heappush(heap, (following["frame_idx"], obj_id, n, following, header, frames))
        yield FrameRow(frame_idx, time_s, objects)
