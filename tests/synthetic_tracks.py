"""Synthetic tracking results and ground truth with known answers, for the export and evaluation tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lang_sam_tracker.results.jsonl import JsonlAppender
from lang_sam_tracker.results.record import ObjectObservation, RecordBuilder, RecordOutput, validate_record
from lang_sam_tracker.results.spool import sidecar_dir_for, spool_dir_for
from lang_sam_tracker.video import VideoInfo

WIDTH, HEIGHT, FPS = 64, 48, 10.0
_TOKENS = itertools.count()


@dataclass
class Box:
    """One object on one frame: pixel-edge xyxy box (its mask is the filled box, with one pixel cut to make it non-trivial)."""

    obj_id: int
    label: str
    score: float
    x0: int
    y0: int
    x1: int
    y1: int

    def mask(self) -> np.ndarray:
        m = np.zeros((HEIGHT, WIDTH), dtype=bool)
        m[self.y0 : self.y1, self.x0 : self.x1] = True
        if self.x1 - self.x0 > 2 and self.y1 - self.y0 > 2:
            m[self.y0 + 1, self.x0 + 1] = False  # a hole inside keeps the extent and makes the RLE non-trivial
        return m

    def xywh(self) -> list[int]:
        return [self.x0, self.y0, self.x1 - self.x0, self.y1 - self.y0]


def movers(n_frames: int, ids: tuple[int, ...] = (0, 1), labels: tuple[str, ...] = ("person", "person")) -> dict[int, list[Box]]:
    """Objects moving right, one row each, frame index -> boxes (every frame has all objects)."""
    frames: dict[int, list[Box]] = {}
    for t in range(n_frames):
        frames[t] = [
            Box(obj_id, label, 0.5 + 0.1 * k, 2 + t, 4 + 14 * k, 12 + t, 14 + 14 * k)
            for k, (obj_id, label) in enumerate(zip(ids, labels))
        ]
    return frames


def make_record(
    video_path: str,
    frames: dict[int, list[Box]],
    total_frames: int | None = None,
    group_by: str = "frame",
    save_masks: bool = True,
    prompt: str = "person",
    sidecar_for: Path | None = None,
) -> dict:
    """A schema-valid record (built by the project's RecordBuilder) of `frames`: source index -> boxes.

    With `sidecar_for` (the results file it is for), a `--sidecar` record: its frames go to a file in
    the results' sidecar folder, as a batch run with --sidecar writes them (group_by must be "frame").
    """
    total = total_frames if total_frames is not None else max(frames) + 1
    info = VideoInfo(WIDTH, HEIGHT, FPS, total, total / FPS, 0)
    output = None
    if sidecar_for is not None:
        output = RecordOutput(spool_dir_for(sidecar_for), f"s{next(_TOKENS)}", sidecar_dir=sidecar_dir_for(sidecar_for), relative_to=sidecar_for.parent)
    builder = RecordBuilder(video_path, prompt, info, group_by=group_by, save_masks=save_masks, output=output)
    for idx in sorted(frames):
        builder.add_frame(
            idx, idx / FPS,
            [ObjectObservation(b.obj_id, b.label, b.score, (b.x0, b.y0, b.x1, b.y1), mask=b.mask() if save_masks else None) for b in frames[idx]],
        )
    stats = {"elapsed_s": 1.0, "fps": 10.0, "device": "cpu", "timing_s": {"load": 0, "decode": 0, "detect": 0, "track": 0, "render": 0}}
    record = builder.build(stats, {"version": "test", "config_hash": "0" * 12})
    validate_record(record)
    return record


def write_results(path: Path, records: list[dict], index: bool = False) -> Path:
    """The records as a results file; with `index`, also its results index, as a batch writes it."""
    with JsonlAppender(path, index=index) as out:
        for record in records:
            out.append(record)
    return path


def write_gt(gt_dir: Path, name: str, frames: dict[int, list[Box]], extra_rows: list[str] = (), first_frame: int = 1) -> Path:
    """GT_DIR/name/gt/gt.txt in MOT17 style (1-based ids and corners, consider=1, class=1, visibility=1) and its seqinfo.ini."""
    seq = gt_dir / name
    (seq / "gt").mkdir(parents=True, exist_ok=True)
    lines = [
        f"{idx + first_frame},{b.obj_id + 1},{b.x0 + 1},{b.y0 + 1},{b.x1 - b.x0},{b.y1 - b.y0},1,1,1"
        for idx in sorted(frames) for b in frames[idx]
    ]
    (seq / "gt" / "gt.txt").write_text("\n".join(lines + list(extra_rows)) + "\n")
    length = max(frames) + 1
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate={FPS:g}\nseqLength={length}\nimWidth={WIDTH}\nimHeight={HEIGHT}\nimExt=.jpg\n"
    )
    return seq / "gt" / "gt.txt"
