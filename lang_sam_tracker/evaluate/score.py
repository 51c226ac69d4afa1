"""Evaluating a results file against a folder of ground-truth sequences: matching, frames, classes, the report."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..export.reader import ExportError, iter_frames, iter_results, lists_every_frame, malformed
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


def _evaluated_frames(record: dict) -> list[int]:
    """Source frame indices that were processed (all of them for the per-frame layout)."""
    if lists_every_frame(record):
        return [f.frame_idx for f in iter_frames(record)]
    info = record.get("video_info", {})
    if info.get("processed_frames") == info.get("total_frames"):
        return list(range(int(info["total_frames"])))
    logger.warning(
        "%s: --group_by object record of a subsampled video: frames where nothing was seen are not listed, so only the "
        "frames with objects are scored (misses on the others are not counted); use --group_by frame records to score exactly",
        record["video_path"],
    )
    return [f.frame_idx for f in iter_frames(record)]


def sequence_frames(record: dict, gt: GroundTruth, spec: ClassSpec, options: Options) -> tuple[list[FrameData], int]:
    """The preprocessed frames of one record and class, and how many annotated frames were not processed."""
    predictions = {f.frame_idx: f.objects for f in iter_frames(record)}
    frames = []
    evaluated = _evaluated_frames(record)
    by_number = gt.by_frame()
    empty = np.empty((0, gt.rows.shape[1]))
    for idx in evaluated:
        objects = [o for o in predictions.get(idx, []) if spec.labels is None or o["label"] in spec.labels]
        ids = np.array([o["obj_id"] for o in objects], dtype=int)
        boxes = np.array([o["bbox"] for o in objects], dtype=np.float64).reshape(-1, 4)
        rows = by_number.get(idx + options.gt_first_frame, empty)
        frames.append(prepare_frame(rows, ids, boxes, spec.gt_classes, options.distractors))
    skipped = len(set(by_number) - {idx + options.gt_first_frame for idx in evaluated})
    return frames, skipped


def evaluate(results: Path, options: Options) -> Report:
    """Score every record of `results` that has a ground-truth sequence; records without one are problems."""
    if not options.gt_dir.is_dir():
        raise ExportError(f"--gt {options.gt_dir}: folder not found")
    report = Report()
    hota_results, accumulators, names = [], [], []
    used: dict[str, str] = {}
    for record in iter_results(results):
        video = record["video_path"]
        if options.text_prompt is not None and record.get("text_prompt") != options.text_prompt:
            continue
        name = sequence_name(video, options.seq_map)
        path = find_sequence(options.gt_dir, name)
        if path is None:
            looked = " or ".join(str(p) for p in sequence_paths(options.gt_dir, name))
            report.problems.append(f"{video}: no ground truth for sequence {name!r} (looked for {looked}); name it in --seq_map")
            continue
        if name in used:
            report.problems.append(
                f"{video} ({record.get('text_prompt')!r}): sequence {name!r} already scored for {used[name]}; skipped (tell them apart with --seq_map or --text_prompt)"
            )
            continue
        used[name] = video
        gt = GroundTruth.load(name, path, options.gt_box_origin)
        for spec in options.classes:
            try:
                frames, skipped = sequence_frames(record, gt, spec, options)
            except (KeyError, TypeError, IndexError, AttributeError) as exc:
                raise malformed(record, exc) from exc
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
