"""What the Python API hands back: one video's result, its frames and objects, read lazily.

A `TrackResult` is either a record just built in memory (`Tracker.track`) or a line of a results
file (`read_results`): both give the same objects. Frames of a file are streamed from it, one at a
time (`results.reader`, every layout); masks stay COCO RLE until an object's `.mask` is asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..detectors.prompt import parse_prompt
from ..results.reader import FrameRow, RecordLine, iter_frames, iter_record_lines, read_head_and_layout


@dataclass(frozen=True)
class TrackedObject:
    """One object on one frame.

    `box` is (x0, y0, x1, y1) in pixels, pixel edges (x1 = last column + 1), as supervision and most
    tools take it; `bbox` is the record's [x, y, w, h]. `mask` is decoded from `rle` when asked for
    (None when the run did not save masks).
    """

    obj_id: int
    label: str
    score: float
    bbox: tuple[int, int, int, int]
    presence: float | None = None
    rle: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def box(self) -> tuple[int, int, int, int]:
        x, y, w, h = self.bbox
        return (x, y, x + w, y + h)

    @cached_property
    def mask(self) -> np.ndarray | None:
        """(H, W) bool mask, decoded on first access."""
        if self.rle is None:
            return None
        from ..results.record import rle_to_mask

        return rle_to_mask(self.rle)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> "TrackedObject":
        return cls(
            int(entry["obj_id"]), str(entry["label"]), float(entry["score"]), tuple(int(v) for v in entry["bbox"]),
            entry.get("presence"), entry.get("mask"),
        )


@dataclass(frozen=True)
class TrackedFrame:
    """One processed frame: its index in the source video, its time, and the objects seen on it."""

    frame_idx: int
    time_s: float
    objects: tuple[TrackedObject, ...]
    size: tuple[int, int]  # (height, width) of the video
    classes: tuple[str, ...] = ()  # the prompt's classes: class ids for `to_supervision`

    def to_supervision(self):
        """This frame as `supervision.Detections` (needs the [supervision] extra): xyxy, confidence,
        class_id (index of the label in the prompt), tracker_id, masks when saved, and
        data["class_name"]."""
        from .convert import to_supervision

        return to_supervision(self)


@dataclass(frozen=True)
class ObjectSummary:
    """One object over the whole video (the record's `object_summary`)."""

    obj_id: int
    label: str
    first_frame: int
    first_time_s: float
    last_frame: int
    last_time_s: float
    frames_visible: int
    mean_score: float


class Frames(Sequence[TrackedFrame]):
    """A video's frames: iterable (streamed from the file for results read back), `len()`-able
    and indexable (indexing a file's frames reads them all into memory once)."""

    def __init__(self, rows, size: tuple[int, int], classes: tuple[str, ...], count: int | None = None) -> None:
        self._rows = rows  # a list of FrameRow, or a callable that streams them
        self._size, self._classes = size, classes
        self._count = count
        self._loaded: list[TrackedFrame] | None = None

    def _frame(self, row: FrameRow) -> TrackedFrame:
        objects = tuple(TrackedObject.from_entry(o) for o in row.objects)
        return TrackedFrame(int(row.frame_idx), float(row.time_s), objects, self._size, self._classes)

    def __iter__(self) -> Iterator[TrackedFrame]:
        if self._loaded is not None:
            return iter(self._loaded)
        rows = self._rows() if callable(self._rows) else self._rows
        return (self._frame(FrameRow(*r) if not isinstance(r, FrameRow) else r) for r in rows)

    def __len__(self) -> int:
        if self._count is None:
            self._count = len(self._all())
        return self._count

    def __getitem__(self, index):  # type: ignore[override]
        return self._all()[index]

    def _all(self) -> list[TrackedFrame]:
        if self._loaded is None:
            self._loaded = list(iter(self))
        return self._loaded

    def __repr__(self) -> str:
        return f"<{len(self)} frames>"


class TrackResult:
    """One video tracked for one prompt: `frames`, `objects`, the record's fields, and `save`."""

    def __init__(
        self, head: Mapping[str, Any], frames: Frames, record: dict | None = None, line: RecordLine | None = None
    ) -> None:
        self._head = dict(head)
        self.frames = frames
        self._record = record  # the whole record, when it is in memory (Tracker.track)
        self._line = line  # or where it lies in a results file (read_results)

    # --- the record's fields
    @property
    def video_path(self) -> str:
        return self._head["video_path"]

    @property
    def text_prompt(self) -> str:
        return self._head["text_prompt"]

    @property
    def video_info(self) -> dict:
        return self._head["video_info"]

    @property
    def stats(self) -> dict:
        return self._head.get("stats", {})

    @property
    def meta(self) -> dict:
        return self._head.get("meta", {})

    @property
    def output_video(self) -> str | None:
        return self._head.get("output_video")

    @property
    def objects(self) -> list[ObjectSummary]:
        """The per-object summary: id, label, first and last frame and time, frames visible, mean score."""
        known = ObjectSummary.__dataclass_fields__
        return [ObjectSummary(**{k: v for k, v in o.items() if k in known}) for o in self._head.get("object_summary", [])]

    def to_record(self) -> dict:
        """The record as the CLI writes it (output-schema.md), frames included; a sidecar record's
        frames are brought into the line (a `frames` array), so it stands on its own wherever it is saved."""
        if "sidecar" in self._head:
            rows = [{"frame_idx": f.frame_idx, "time_s": f.time_s, "objects": [_entry(o) for o in f.objects]} for f in self.frames]
            return _with_frames(self._head, rows)
        if self._record is not None:
            return self._record
        assert self._line is not None
        return self._line.read()

    def save(self, path: str | os.PathLike) -> Path:
        """Append this result to a results file as one line in the CLI's format (its index kept up
        to date), so the CLI's tools (export, evaluate, resume, lang-sam-render, lang-sam-report)
        read it. Holds the results file's run lock while it writes."""
        from ..results.jsonl import JsonlAppender
        from ..results.lock import ResultsLock

        path = Path(path)
        with ResultsLock(path), JsonlAppender(path, index=True) as out:
            out.append(self.to_record())
        return path

    def __repr__(self) -> str:
        return f"TrackResult({self.video_path!r}, {self.text_prompt!r}, {len(self.objects)} objects, {self.video_info.get('processed_frames')} frames)"


def _with_frames(head: Mapping[str, Any], rows: list[dict]) -> dict:
    """`head` with its `sidecar` key replaced by the frames themselves, in the same place."""
    return {("frames" if k == "sidecar" else k): (rows if k == "sidecar" else v) for k, v in head.items()}


def _entry(o: TrackedObject) -> dict:
    entry: dict[str, Any] = {"obj_id": o.obj_id, "label": o.label, "score": o.score, "bbox": list(o.bbox)}
    if o.presence is not None:
        entry["presence"] = o.presence
    if o.rle is not None:
        entry["mask"] = dict(o.rle)
    return entry


def _classes(prompt: str) -> tuple[str, ...]:
    try:
        return parse_prompt(prompt).classes
    except ValueError:
        return ()


def _size(head: Mapping[str, Any]) -> tuple[int, int]:
    info = head.get("video_info", {})
    return (int(info.get("height", 0)), int(info.get("width", 0)))


def result_of_record(record: dict, base_dir: str | os.PathLike | None = None) -> TrackResult:
    """A TrackResult of a record in memory (frames or objects layout, or a sidecar record)."""
    head = {k: v for k, v in record.items() if k not in ("frames", "objects")}
    count = record["video_info"]["processed_frames"] if "frames" in record or "sidecar" in record else None
    rows = list(iter_frames(record, base_dir)) if "sidecar" not in record else (lambda: iter_frames(record, base_dir))
    return TrackResult(head, Frames(rows, _size(head), _classes(record["text_prompt"]), count), record)


def result_of_line(line: RecordLine) -> TrackResult:
    """A TrackResult of one line of a results file: its head read now, its frames streamed on use."""
    head, layout = read_head_and_layout(line)
    if layout is None:
        raise ValueError(f"{line.path}: the record of {line.video_path} has no frames, objects or sidecar")
    count = head["video_info"]["processed_frames"] if layout in ("frames", "sidecar") else None
    return TrackResult(head, Frames(lambda: iter_frames(line), _size(head), _classes(head["text_prompt"]), count), line=line)


class Results(Sequence[TrackResult]):
    """The records of a results file, in file order: `len()`, iteration, indexing; each record's
    frames are read from the file when iterated."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such results file")
        self._lines = list(iter_record_lines(self.path))

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [result_of_line(line) for line in self._lines[index]]
        return result_of_line(self._lines[index])

    def __iter__(self) -> Iterator[TrackResult]:
        return (result_of_line(line) for line in self._lines)

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r}, {len(self)} records)"


def read_results(path: str | os.PathLike) -> Results:
    """The records of a results file written by the CLI or `TrackResult.save`, any layout
    (`--group_by frame`, `--group_by object`, `--sidecar`).

        for result in lang_sam_tracker.read_results("results.jsonl"):
            for frame in result.frames:
                for obj in frame.objects:
                    obj.obj_id, obj.label, obj.box, obj.mask   # mask: decoded now (None without --save_masks)
    """
    return Results(path)
