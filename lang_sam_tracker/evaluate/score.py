"""Evaluating a results file against a folder of ground-truth sequences: matching, frames, classes, the report."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..export.source import MALFORMED, ExportError, Record, iter_records, malformed
from .gt import MOT_DISTRACTORS, GroundTruth, find_sequence, sequence_name, sequence_paths
from .metrics import FrameData, accumulator, clear_and_identity, combine_hota, hota, hota_summary, prepare_frame

logger = logging.getLogger(__name__)

ALL_LABELS = "*"


@dataclass(frozen=True)
class ClassSpec:
    """Predictions with one of `labels` (None: any label) are scored against ground-truth rows of `gt_classes`."""

    name: str
    labels: frozenset[str] | None
    gt_classes: frozenset[int]


def parse_class_map(items: list[str] | None) -> list[ClassSpec]:
    """`LABEL=ID[,ID...]` items ("person=1", "car=3,4", "*=1" for every label); default: every label against class 1."""
    specs = []
    for item in items or [f"{ALL_LABELS}=1"]:
        label, sep, ids = item.partition("=")
        label = " ".join(label.lower().split())
        try:
            classes = frozenset(int(v) for v in ids.split(",") if v.strip())
        except ValueError:
            classes = frozenset()
        if not sep or not label or not classes:
            raise ExportError(f"--class_map {item!r}: expected LABEL=ID[,ID...], e.g. person=1 or '*=1'")
        specs.append(ClassSpec(label, None if label == ALL_LABELS else frozenset([label]), classes))
    return specs


def parse_classes(text: str) -> frozenset[int]:
    """--distractor_classes: "2,7,8,12" or "none"."""
    if text.strip().lower() == "none":
        return frozenset()
    try:
        return frozenset(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ExportError(f"--distractor_classes {text!r}: expected comma-separated class ids or 'none'") from None


@dataclass
class Options:
    gt_dir: Path
    seq_map: dict[str, str] = field(default_factory=dict)
    classes: list[ClassSpec] = field(default_factory=lambda: parse_class_map(None))
    distractors: frozenset[int] = frozenset(MOT_DISTRACTORS)
    gt_first_frame: int = 1
    gt_box_origin: int = 1
    text_prompt: str | None = None


@dataclass
class Report:
    """Rows (one per video and class, then OVERALL), problems (one line each) and the exit status."""

    rows: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if not self.rows:
            return 2
        return 1 if self.problems else 0


def _processed_frames(record: Record) -> Iterator[tuple[int, list[dict]]]:
    """(source frame index, objects) of every processed frame, in order, streamed from the record
    (the per-object layout's empty frames filled in where every source frame was processed)."""
    if record.lists_every_frame:
        for frame in record.frames():
            yield frame.frame_idx, frame.objects
        return
    info = record.info
    if info.get("processed_frames") == info.get("total_frames"):
        frames = record.frames()
        pending = next(frames, None)
        for idx in range(int(info["total_frames"])):
            while pending is not None and pending.frame_idx < idx:
                pending = next(frames, None)
            if pending is not None and pending.frame_idx == idx:
                yield idx, pending.objects
            else:
                yield idx, []
        return
    logger.warning(
        "%s: --group_by object record of a subsampled video: frames where nothing was seen are not listed, so only the "
        "frames with objects are scored (misses on the others are not counted); use --group_by frame records to score exactly",
        record.video_path,
    )
    for frame in record.frames():
        yield frame.frame_idx, frame.objects


def sequence_frames(record: Record, gt: GroundTruth, spec: ClassSpec, options: Options) -> tuple[list[FrameData], int]:
    """The preprocessed frames of one record and class, and how many annotated frames were not processed.

    The record's frames are read one at a time; what is kept per frame is ids and an IoU matrix."""
    frames = []
    evaluated: set[int] = set()
    by_number = gt.by_frame()
    empty = np.empty((0, gt.rows.shape[1]))
    for idx, objects in _processed_frames(record):
        number = idx + options.gt_first_frame
        evaluated.add(number)
        objects = [o for o in objects if spec.labels is None or o["label"] in spec.labels]
        ids = np.array([o["obj_id"] for o in objects], dtype=int)
        boxes = np.array([o["bbox"] for o in objects], dtype=np.float64).reshape(-1, 4)
        frames.append(prepare_frame(by_number.get(number, empty), ids, boxes, spec.gt_classes, options.distractors))
    skipped = len(set(by_number) - evaluated)
    return frames, skipped


def evaluate(results: Path, options: Options) -> Report:
    """Score every record of `results` that has a ground-truth sequence; records without one are problems."""
    if not options.gt_dir.is_dir():
        raise ExportError(f"--gt {options.gt_dir}: folder not found")
    report = Report()
    hota_results, accumulators, names = [], [], []
    used: dict[str, str] = {}
    for record in iter_records(results):
        video = record.video_path
        if options.text_prompt is not None and record.text_prompt != options.text_prompt:
            continue
        name = sequence_name(video, options.seq_map)
        path = find_sequence(options.gt_dir, name)
        if path is None:
            looked = " or ".join(str(p) for p in sequence_paths(options.gt_dir, name))
            report.problems.append(f"{video}: no ground truth for sequence {name!r} (looked for {looked}); name it in --seq_map")
            continue
        if name in used:
            report.problems.append(
                f"{video} ({record.text_prompt!r}): sequence {name!r} already scored for {used[name]}; skipped (tell them apart with --seq_map or --text_prompt)"
            )
            continue
        used[name] = video
        gt = GroundTruth.load(name, path, options.gt_box_origin)
        for spec in options.classes:
            try:
                frames, skipped = sequence_frames(record, gt, spec, options)
            except MALFORMED as exc:
                raise malformed(video, exc) from exc
            if skipped:
                logger.info("%s: %d annotated frame(s) of %s were not processed and are not scored", video, skipped, name)
            result = hota(frames)
            hota_results.append(result)
            accumulators.append(accumulator(frames))
            names.append(f"{len(names)}")
            report.rows.append({"video": video, "sequence": name, "class": spec.name, "frames": len(frames), **hota_summary(result)})
    if not report.rows:
        return report
    clear = clear_and_identity(accumulators, names)
    for row, key in zip(report.rows, names):
        row.update(clear[key])
    overall = {"video": "OVERALL", "sequence": "", "class": "", "frames": sum(r["frames"] for r in report.rows)}
    report.rows.append({**overall, **hota_summary(combine_hota(hota_results)), **clear["OVERALL"]})
    return report
