"""Ground truth in MOTChallenge layout: finding a video's sequence, reading it, choosing its rows.

A sequence named NAME is DIR/NAME/gt/gt.txt (MOT17, MOT20, DanceTrack, a CVAT "MOT 1.1" export
unpacked into a folder) or DIR/NAME.txt. Columns: frame, id, x, y, w, h, consider (0 = ignore),
class, visibility; missing trailing columns count as -1 (no class: the row is in every class).
Box corners are 1-based in MOTChallenge files (MOT17, DanceTrack): they are made 0-based like the records'.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..export.mot import load_mot
from ..export.source import ExportError, sequence_stem

MOT_DISTRACTORS = (2, 7, 8, 12)  # person_on_vehicle, static_person, distractor, reflection (TrackEval's MOT17 preprocessing)


def sequence_paths(gt_dir: Path, name: str) -> list[Path]:
    """Where the ground truth of sequence `name` may be, in the order they are tried."""
    return [gt_dir / name / "gt" / "gt.txt", gt_dir / f"{name}.txt"]


def find_sequence(gt_dir: Path, name: str) -> Path | None:
    return next((p for p in sequence_paths(gt_dir, name) if p.is_file()), None)


def read_seq_map(path: Path) -> dict[str, str]:
    """A mapping file: one `VIDEO,SEQUENCE` (or tab-separated) pair per line; VIDEO is the record's video_path or its stem.

    Blank lines and # comments are skipped.
    """
    if not path.is_file():
        raise ExportError(f"--seq_map {path}: file not found")
    mapping: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = [p.strip() for p in (text.split("\t") if "\t" in text else text.rsplit(",", 1))]
        if len(parts) != 2 or not all(parts):
            raise ExportError(f"--seq_map {path}:{lineno}: expected 'VIDEO,SEQUENCE', got {text[:80]!r}")
        mapping[parts[0]] = parts[1]
    return mapping


def sequence_name(video_path: str, seq_map: dict[str, str]) -> str:
    """The ground-truth sequence of a video: from the mapping (by path, then stem), else the video's stem."""
    stem = sequence_stem(video_path)
    return seq_map.get(video_path, seq_map.get(stem, stem))


@dataclass
class GroundTruth:
    """One sequence's rows (N, 10): frame, id, x, y, w, h, consider, class, visibility, -1."""

    name: str
    path: Path
    rows: np.ndarray

    @classmethod
    def load(cls, name: str, path: str | os.PathLike, box_origin: int = 1) -> "GroundTruth":
        """Read a sequence; box corners are shifted to 0-based pixels (MOTChallenge's start at 1)."""
        rows = load_mot(path)
        rows[:, 2:4] -= box_origin
        ids = rows[:, 1]
        frames = rows[:, 0]
        keys = frames * (ids.max() + 1 if len(ids) else 1) + ids
        if len(np.unique(keys)) != len(keys):
            raise ExportError(f"{path}: an id appears twice in one frame")
        return cls(name, Path(path), rows)

    def by_frame(self) -> dict[int, np.ndarray]:
        """MOT frame number -> its rows."""
        order = np.argsort(self.rows[:, 0], kind="stable")
        rows = self.rows[order]
        numbers, starts = np.unique(rows[:, 0], return_index=True)
        return {int(n): part for n, part in zip(numbers, np.split(rows, starts[1:]))}
