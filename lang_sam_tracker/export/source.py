"""Reading results files for export and evaluation, through the package's reader (`lang_sam_tracker.results.reader`).

Records are found from the results index (`results_index.load_entries`, keys only, as
`reader.iter_record_lines` finds them, and warning about lines that are not records), their heads read without the frames
(`reader.read_head_and_layout`), and their frames streamed, one at a time, by `reader.iter_frames`
from any layout: `--group_by frame`, `--group_by object` and `--sidecar`. No line is loaded whole,
so memory stays flat however long a video's record is.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..results.reader import FrameRow, RecordLine, iter_frames, read_head_and_layout
from ..results.index import load_entries

logger = logging.getLogger(__name__)

# What a record that lacks a field the schema promises raises while it is read (or exported).
MALFORMED = (KeyError, TypeError, IndexError, AttributeError)


class ExportError(ValueError):
    """Bad input for an export or an evaluation; the message is the one line the user sees."""


@dataclass(frozen=True)
class Record:
    """One record of a results file: its head in memory, its frames read from the file when asked.

    `head` is the record without its frames (video_info, text_prompt, object_summary, stats, meta,
    sidecar ...); `layout` is "frames", "objects" or "sidecar".
    """

    line: RecordLine
    head: dict
    layout: str

    @property
    def video_path(self) -> str:
        return self.line.video_path

    @property
    def text_prompt(self) -> str:
        return self.line.text_prompt

    @property
    def info(self) -> dict:
        info = self.head.get("video_info")
        return info if isinstance(info, dict) else {}

    @property
    def lists_every_frame(self) -> bool:
        """True when frames() yields every processed frame, empty ones included (not the per-object layout)."""
        return self.layout != "objects"

    def frames(self) -> Iterator[FrameRow]:
        """(frame_idx, time_s, objects) in frame order, one at a time, streamed from the results file
        (or the sidecar file). The per-object layout does not list frames where nothing was seen; its
        objects carry the track's label and score (the layout keeps one score per track)."""
        try:
            yield from iter_frames(self.line)
        except FileNotFoundError as exc:
            raise ExportError(f"{self.video_path}: sidecar file not found: {exc.filename} (moved without the results file?)") from None
        except ExportError:
            raise
        except (ValueError, *MALFORMED) as exc:
            raise malformed(self.video_path, exc) from exc


def iter_records(path: str | os.PathLike) -> Iterator[Record]:
    """The records of a results file, one at a time (memory stays flat however big the file, or a line, is).

    Lines that are not a record (torn, or not a video record) are skipped with a warning; a missing
    file or a file without a single record raises ExportError.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: results file not found")
    count = 0
    for entry in load_entries(path):
        if not entry.is_record:
            if isinstance(entry.video_path, str):
                raise ExportError(f"{entry.video_path}: malformed record (no text_prompt)")
            if entry.length > 2:  # blank lines are skipped quietly
                logger.warning("%s: skipping the line at byte %d: not a video record", path, entry.offset)
            continue
        line = RecordLine.from_entry(path, entry)
        try:
            head, layout = read_head_and_layout(line)
        except ValueError as exc:
            raise malformed(line.video_path, exc) from exc
        if layout is None:
            logger.warning("%s: skipping the line of %s: not a video record (no frames, objects or sidecar)", path, line.video_path)
            continue
        count += 1
        yield Record(line, head, layout)
    if count == 0:
        raise ExportError(f"{path}: no video records in the results file (empty?)")


def malformed(video_path: str, exc: Exception) -> ExportError:
    """The one-line error for a record that lacks a field the schema promises (or is not valid JSON)."""
    return ExportError(f"{video_path}: malformed record ({type(exc).__name__}: {exc})")


class SequenceNames:
    """Names for videos in exported files: the file stem, made unique with -2, -3, ... when it repeats.

    (The same stem in two folders, or one video run with two prompts, must not overwrite each other.)
    """

    def __init__(self) -> None:
        self._used: set[str] = set()

    def name(self, record: Record) -> str:
        stem = sequence_stem(record.video_path)
        name, n = stem, 1
        while name in self._used:
            n += 1
            name = f"{stem}-{n}"
        if name != stem:
            logger.warning("%s (%s): name %r already used, exported as %r", record.video_path, record.text_prompt, stem, name)
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
