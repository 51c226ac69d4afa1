"""MOTChallenge text files: `frame,id,x,y,w,h,conf,-1,-1,-1`, one per video, and its seqinfo.ini.

Frames are numbered from 1. With `numbering="source"` (default) MOT frame = frame_idx + 1, the
source frame's index, so the file lines up with ground truth annotated on every frame (MOT17,
DanceTrack, CVAT exports); with `numbering="processed"` frames are counted 1, 2, ... in processed
order (for ground truth annotated only on the processed frames). Ids are obj_id + 1 (MOT ids start
at 1). Box corners are 1-based as in MOTChallenge ground truth (the top-left pixel is (1, 1);
motmetrics' reader subtracts 1 again), so x = bbox x + 1, y = bbox y + 1; w and h are unchanged.
"""

from __future__ import annotations

import configparser
import io
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .source import ExportError, Record

NUMBERINGS = ("source", "processed")
MOT_ORIGIN = 1  # MOTChallenge pixel coordinates start at 1 (MATLAB convention)
MOT_COLUMNS = 10  # frame, id, x, y, w, h, conf, class (or x3d), visibility (or y3d), z3d


def mot_lines(record: Record, numbering: str = "source") -> Iterator[str]:
    """The MOT lines of one record, frame by frame (streamed: one frame in memory at a time)."""
    if numbering not in NUMBERINGS:
        raise ValueError(f"numbering must be one of {NUMBERINGS}, got {numbering!r}")
    if numbering == "processed" and not record.lists_every_frame:
        info = record.info
        if info.get("processed_frames") != info.get("total_frames"):
            raise ExportError(
                f"{record.video_path}: --mot_frames processed needs a --group_by frame record here (the per-object "
                "layout does not list the frames where nothing was seen, so their numbers are unknown); use --mot_frames source"
            )
        numbering = "source"  # every source frame was processed: both numberings agree
    for i, frame in enumerate(record.frames()):
        number = frame.frame_idx + 1 if numbering == "source" else i + 1
        for obj in frame.objects:
            x, y, w, h = obj["bbox"]
            yield f"{number},{int(obj['obj_id']) + 1},{x + MOT_ORIGIN},{y + MOT_ORIGIN},{w},{h},{float(obj['score']):.4f},-1,-1,-1\n"


def seqinfo(record: Record, name: str, numbering: str = "source") -> str:
    """seqinfo.ini text: frame rate and length of the numbering used (source frames, or processed frames)."""
    info = record.info
    ini = configparser.ConfigParser()
    ini.optionxform = str  # keep MOTChallenge's camelCase keys
    if numbering == "source":
        rate, length = info.get("original_fps", 0), info.get("total_frames", 0)
    else:
        rate, length = info.get("process_fps", 0), info.get("processed_frames", 0)
    ini["Sequence"] = {
        "name": name,
        "imDir": "img1",
        "frameRate": f"{float(rate):g}",
        "seqLength": str(int(length)),
        "imWidth": str(int(info.get("width", 0))),
        "imHeight": str(int(info.get("height", 0))),
        "imExt": ".jpg",
    }
    text = io.StringIO()
    ini.write(text, space_around_delimiters=False)
    return text.getvalue()


def load_mot(path: str | os.PathLike) -> np.ndarray:
    """The rows of a MOT text file as an (N, 10) float array, missing trailing columns filled with -1.

    Accepts comma- or whitespace-separated files of 6 to 10 columns (frame, id, x, y, w, h, then
    conf/consider, class, visibility as MOT16/17 ground truth or CVAT's MOT 1.1 export have them).
    """
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            text = line.strip()
            if not text:
                continue
            parts = text.replace(",", " ").split()
            try:
                values = [float(v) for v in parts[:MOT_COLUMNS]]
            except ValueError:
                raise ExportError(f"{path}:{lineno}: not a MOT line (numbers expected): {text[:80]!r}") from None
            if len(values) < 6:
                raise ExportError(f"{path}:{lineno}: a MOT line needs at least 6 columns (frame,id,x,y,w,h), got {len(values)}")
            rows.append(values + [-1.0] * (MOT_COLUMNS - len(values)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, MOT_COLUMNS)


class MotExporter:
    """Writes OUT/<name>.txt per video and OUT/<name>/seqinfo.ini beside it."""

    def __init__(self, out_dir: Path, numbering: str = "source"):
        self.out_dir = out_dir
        self.numbering = numbering
        self.written: list[Path] = []

    def add(self, record: Record, name: str) -> None:
        txt = self.out_dir / f"{name}.txt"
        _write_lines(txt, mot_lines(record, self.numbering))
        ini = self.out_dir / name / "seqinfo.ini"
        ini.parent.mkdir(parents=True, exist_ok=True)
        _write_lines(ini, [seqinfo(record, name, self.numbering)])
        self.written += [txt, ini]

    def close(self) -> list[Path]:
        return self.written

    def abort(self) -> None:
        """Files already written are complete videos: they stay."""


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write to a .tmp name, renamed when complete (removed when the lines fail)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
