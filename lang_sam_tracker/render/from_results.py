"""Annotated videos drawn from a results file, so tracking never has to be rerun to look.

Each record's source video is decoded again with the record's own sampling (`meta.fps`), so the
processed frames are the ones tracked; every object is drawn as at tracking time (`annotate`):
its mask when the run saved masks, else its box, its label and id in the id's colour. The video
gets the name tracking would have given it (`annotated_video_path`), in another folder.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..errors import VideoError
from ..results.reader import FrameRow, RecordLine, iter_frames, iter_record_lines, read_head
from ..results.record import ObjectObservation, rle_to_mask
from ..video import VideoReader
from .annotate import AnnotatedVideoWriter, annotated_video_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    video_path: str
    output: Path
    frames: int
    masks: bool  # drawn with masks (the run saved them), else boxes only


def observations(objects: Sequence[dict]) -> list[ObjectObservation]:
    """A record frame's objects as the tracker handed them to the annotated-video writer."""
    out = []
    for o in objects:
        x, y, w, h = o["bbox"]
        mask = rle_to_mask(o["mask"]) if "mask" in o else None
        out.append(ObjectObservation(o["obj_id"], o["label"], o["score"], (x, y, x + w, y + h), o.get("presence"), mask))
    return out


def source_video(head: dict, base: Path) -> str | None:
    """The video a record was made from, as found now: the path as listed (from here, then from the
    results file's folder `base`), else the resolved path; None when none of them exists."""
    for candidate in (head["video_path"], str(base / head["video_path"]), head.get("resolved_path")):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def render_record(line: RecordLine, out_dir: str | os.PathLike) -> Rendered:
    """Draw one record's annotated video into `out_dir`; returns where it went."""
    head = read_head(line)
    source = source_video(head, line.path.parent)
    if source is None:
        raise VideoError(f"{head['video_path']}: source video not found (also tried {head.get('resolved_path')}); render needs the original video")
    fps = head.get("meta", {}).get("fps")
    target = annotated_video_path(out_dir, head["video_path"], head["text_prompt"])
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")
    rows: Iterator[FrameRow] = iter_frames(line)
    pending = next(rows, None)
    count, masks = 0, False
    try:
        with VideoReader(source, fps=fps) as reader:
            info = reader.info
            rate = info.original_fps if fps is None else (min(fps, info.original_fps) if info.original_fps > 0 else fps)
            with AnnotatedVideoWriter(partial, info.width, info.height, rate) as writer:
                for frame in reader:
                    while pending is not None and pending.frame_idx < frame.index:  # a frame the reader did not give
                        pending = next(rows, None)
                    objects: list[ObjectObservation] = []
                    if pending is not None and pending.frame_idx == frame.index:
                        objects = observations(pending.objects)
                        masks = masks or any(o.mask is not None for o in objects)
                        pending = next(rows, None)
                    writer.write(frame.rgb, objects)
                    count += 1
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Rendered(head["video_path"], target, count, masks)


def select(lines: Iterable[RecordLine], videos: Sequence[str] | None) -> list[RecordLine]:
    """The records whose video is one of `videos` (as listed, resolved, its file name or its stem); all without."""
    lines = list(lines)
    if not videos:
        return lines
    wanted = set(videos)
    chosen = []
    for line in lines:
        names = {line.video_path, line.resolved_path or "", Path(line.video_path).name, Path(line.video_path).stem}
        if names & wanted or any(os.path.realpath(v) == line.resolved_path for v in wanted):
            chosen.append(line)
    return chosen


def render_results(results: str | os.PathLike, out_dir: str | os.PathLike, videos: Sequence[str] | None = None) -> Iterator[Rendered]:
    """Render every record of `results` (or those of `videos`), one after another."""
    for line in select(iter_record_lines(results), videos):
        yield render_record(line, out_dir)
