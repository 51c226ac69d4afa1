"""Reading results files for export and evaluation: one record at a time, and its frames in order.

`iter_frames` is the single place that knows both record layouts (--group_by frame|object); every
exporter and the evaluator go through it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..jsonl import read_jsonl

logger = logging.getLogger(__name__)


class ExportError(ValueError):
    """Bad input for an export or an evaluation; the message is the one line the user sees."""


@dataclass(frozen=True)
class FrameObjects:
    """One frame of a record: its source index, presentation time, and the objects seen on it.

    Each object is the record's entry (obj_id, label, score, bbox, and mask/presence when present).
    """

    frame_idx: int
    time_s: float
    objects: list[dict]


def iter_results(path: str | os.PathLike) -> Iterator[dict]:
    """The records of a results file, one line at a time (memory stays flat however big the file is).

    Lines that are not a record (torn, or not a video record) are skipped with a warning; a missing
    file or a file without a single record raises ExportError.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: results file not found")
    count = 0
    for record in read_jsonl(path):
        if not isinstance(record.get("video_path"), str) or not ("frames" in record or "objects" in record):
            logger.warning("%s: skipping a line that is not a video record (no video_path, frames or objects)", path)
            continue
        count += 1
        yield record
    if count == 0:
        raise ExportError(f"{path}: no video records in the results file (empty?)")


def iter_frames(record: dict) -> Iterator[FrameObjects]:
    """(frame_idx, time_s, objects) of a record in frame order, from either layout.

    The per-object layout does not list frames where nothing was seen, so those are not yielded;
    its per-frame entries get the track's label and score (the layout keeps one score per track).
    """
    if "frames" in record:
        for frame in record["frames"]:
            yield FrameObjects(int(frame["frame_idx"]), float(frame["time_s"]), list(frame["objects"]))
        return
    by_frame: dict[int, FrameObjects] = {}
    for track in record["objects"]:
        for item in track["frames"]:
            idx = int(item["frame_idx"])
            frame = by_frame.get(idx)
            if frame is None:
                frame = by_frame[idx] = FrameObjects(idx, float(item["time_s"]), [])
            entry = {"obj_id": track["obj_id"], "label": track["label"], "score": track["score"]}
            entry.update({k: v for k, v in item.items() if k not in ("frame_idx", "time_s")})
            frame.objects.append(entry)
    for idx in sorted(by_frame):
        frame = by_frame[idx]
        frame.objects.sort(key=lambda e: e["obj_id"])
        yield frame


def malformed(record: dict, exc: Exception) -> ExportError:
    """The one-line error for a record that lacks a field the schema promises."""
    return ExportError(f"{record.get('video_path', '<record>')}: malformed record ({type(exc).__name__}: {exc})")


def lists_every_frame(record: dict) -> bool:
    """True when iter_frames yields every processed frame (the per-frame layout), empty ones included."""
    return "frames" in record


class SequenceNames:
    """Names for videos in exported files: the file stem, made unique with -2, -3, ... when it repeats.

    (The same stem in two folders, or one video run with two prompts, must not overwrite each other.)
    """

    def __init__(self) -> None:
        self._used: set[str] = set()

    def name(self, record: dict) -> str:
        stem = sequence_stem(record["video_path"])
        name, n = stem, 1
        while name in self._used:
            n += 1
            name = f"{stem}-{n}"
        if name != stem:
            logger.warning("%s (%s): name %r already used, exported as %r", record["video_path"], record.get("text_prompt"), stem, name)
        self._used.add(name)
        return name


def prompt_labels(text_prompt: str) -> list[str]:
    """The class phrases of a prompt, as the detector names them: "Car. person" -> ["car", "person"].

    The rule of detectors.prompt.parse_prompt, restated so exporting does not import the detectors (and torch).
    """
    labels: list[str] = []
    for piece in text_prompt.split("."):
        phrase = " ".join(piece.lower().split())
        if phrase and phrase not in labels:
            labels.append(phrase)
    return labels


def sequence_stem(video_path: str) -> str:
    """The name a video is known by in benchmarks: its file name without extension (MOT17-02-FRCNN.mp4 -> MOT17-02-FRCNN)."""
    return Path(video_path.rstrip("/\\")).stem or "video"
