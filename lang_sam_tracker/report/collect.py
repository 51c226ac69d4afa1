"""What the HTML report shows, gathered from a results file: one entry per video (counts, timings,
objects with their lifespans and best frames), thumbnails cropped from the source videos, and the
failure ledger's lines.

Frames are streamed (`results.reader`), so a long record is never held in memory; each source
video is decoded once, with the record's own sampling, up to the last best frame it needs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..results.jsonl import failures_path, read_jsonl
from ..results.reader import RecordLine, iter_frames, iter_record_lines, read_head
from ..render.from_results import source_video
from ..video import VideoReader

logger = logging.getLogger(__name__)

THUMB_HEIGHT = 96  # pixels; crops are scaled to this height (never up by more than 4x)
_PAD = 0.15  # context kept around the object's box, as a fraction of the box's size


@dataclass
class ObjectRow:
    obj_id: int
    label: str
    first_time_s: float
    last_time_s: float
    frames_visible: int
    mean_score: float
    best_frame: int | None = None  # the frame of the object's highest score (largest box on ties)
    best_box: tuple[int, int, int, int] | None = None  # x, y, w, h there
    thumbnail: str | None = None  # file name in the report's thumbs/ folder


@dataclass
class VideoRow:
    video_path: str
    text_prompt: str
    duration_s: float
    processed_frames: int
    total_frames: int
    size: tuple[int, int]  # width, height
    stats: dict
    objects: list[ObjectRow] = field(default_factory=list)
    note: str | None = None  # why thumbnails are missing, when they are


@dataclass
class Failure:
    video_path: str
    text_prompt: str
    error: str
    attempts: int | None
    time: str | None


def _best_frames(line: RecordLine, objects: dict[int, ObjectRow]) -> None:
    best: dict[int, tuple[float, int]] = {}
    for row in iter_frames(line):
        for o in row.objects:
            x, y, w, h = o["bbox"]
            rank = (float(o["score"]), w * h)
            if o["obj_id"] in objects and (o["obj_id"] not in best or rank > best[o["obj_id"]]):
                best[o["obj_id"]] = rank
                objects[o["obj_id"]].best_frame = row.frame_idx
                objects[o["obj_id"]].best_box = (x, y, w, h)


def _crop(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    pad_x, pad_y = round(w * _PAD), round(h * _PAD)
    height, width = rgb.shape[:2]
    x0, y0 = max(0, x - pad_x), max(0, y - pad_y)
    x1, y1 = min(width, x + w + pad_x), min(height, y + h + pad_y)
    crop = rgb[y0:y1, x0:x1]
    scale = min(THUMB_HEIGHT / max(1, crop.shape[0]), 4.0)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)


def _thumbnails(video: VideoRow, head: dict, base: Path, thumbs: Path, number: int) -> None:
    wanted: dict[int, list[ObjectRow]] = {}
    for obj in video.objects:
        if obj.best_frame is not None:
            wanted.setdefault(obj.best_frame, []).append(obj)
    if not wanted:
        return
    source = source_video(head, base)
    if source is None:
        video.note = "source video not found: no thumbnails"
        return
    last = max(wanted)
    try:
        with VideoReader(source, fps=head.get("meta", {}).get("fps")) as reader:
            for frame in reader:
                for obj in wanted.get(frame.index, []):
                    name = f"v{number}_obj{obj.obj_id}.png"
                    cv2.imwrite(str(thumbs / name), cv2.cvtColor(_crop(frame.rgb, obj.best_box), cv2.COLOR_RGB2BGR))
                    obj.thumbnail = name
                if frame.index >= last:
                    break
    except Exception as exc:  # a video that no longer decodes: the report still shows its numbers
        logger.warning("%s: no thumbnails (%s)", source, exc)
        video.note = f"source video could not be read: no thumbnails ({exc})"


def collect(results: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[list[VideoRow], list[Failure]]:
    """Every record of `results` as a VideoRow (thumbnails written to `out_dir`/thumbs), and the failures."""
    results = Path(results)
    thumbs = Path(out_dir) / "thumbs"
    thumbs.mkdir(parents=True, exist_ok=True)
    videos = []
    for number, line in enumerate(iter_record_lines(results)):
        head = read_head(line)
        info = head["video_info"]
        objects = {
            o["obj_id"]: ObjectRow(o["obj_id"], o["label"], o["first_time_s"], o["last_time_s"], o["frames_visible"], o["mean_score"])
            for o in head.get("object_summary", [])
        }
        video = VideoRow(
            head["video_path"], head["text_prompt"], float(info.get("duration_s", 0.0)), info.get("processed_frames", 0),
            info.get("total_frames", 0), (info.get("width", 0), info.get("height", 0)), head.get("stats", {}),
            list(objects.values()),
        )
        _best_frames(line, objects)
        _thumbnails(video, head, results.parent, thumbs, number)
        videos.append(video)
    ledger = failures_path(results)
    failures = [
        Failure(str(e.get("video_path", "?")), str(e.get("text_prompt", "")), str(e.get("error", "")), e.get("attempts"), e.get("time"))
        for e in (read_jsonl(ledger) if ledger.exists() else [])
    ]
    return videos, failures
