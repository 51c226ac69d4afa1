"""Scoring one sequence: TrackEval's HOTA (DetA, AssA, LocA) and motmetrics' CLEAR and identity metrics.

Both libraries are fed the same per-frame data, prepared as TrackEval prepares MOTChallenge data:
predictions matched (IoU >= 0.5, Hungarian) to a ground-truth box of a distractor class are
dropped, then ground-truth rows marked "consider = 0" or of another class are dropped. A match
needs IoU >= 0.5 for CLEAR/identity metrics; HOTA averages over IoU thresholds 0.05 ... 0.95.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..export.source import ExportError

_EPS = np.finfo("float").eps
MATCH_IOU = 0.5

# (report column, motmetrics metric); HOTA columns come from TrackEval.
MOTMETRICS = (
    ("IDF1", "idf1"), ("IDP", "idp"), ("IDR", "idr"), ("MOTA", "mota"), ("MOTP", "motp"), ("IDSW", "num_switches"),
    ("FP", "num_false_positives"), ("FN", "num_misses"), ("MT", "mostly_tracked"), ("ML", "mostly_lost"),
    ("Frag", "num_fragmentations"), ("GT_dets", "num_objects"), ("GT_ids", "num_unique_objects"),
    ("Pred_dets", "num_predictions"),
)
HOTA_FIELDS = ("HOTA", "DetA", "AssA", "LocA")
# Columns that count something (integers); every other score is a fraction (a percentage in the table).
COUNTS = frozenset({"frames", "IDSW", "FP", "FN", "MT", "ML", "Frag", "GT_dets", "GT_ids", "Pred_dets"})


def _libraries():
    try:
        import motmetrics
        from trackeval.metrics import HOTA
    except ImportError as exc:
        raise ExportError(f"evaluation needs motmetrics and trackeval ({exc.name} is missing): pip install 'lang-sam-tracker[eval]'") from None
    return motmetrics, HOTA


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of [x, y, w, h] boxes (continuous coordinates, as TrackEval and motmetrics compute it)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    inter = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None) * np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    union = (a[:, 2:3] * a[:, 3:4]) + (b[:, 2] * b[:, 3]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > _EPS, inter / union, 0.0)


@dataclass
class FrameData:
    """One evaluated frame after preprocessing: ids and the (gt x pred) IoU matrix."""

    gt_ids: np.ndarray
    pred_ids: np.ndarray
    iou: np.ndarray


def prepare_frame(
    gt_rows: np.ndarray,
    pred_ids: np.ndarray,
    pred_boxes: np.ndarray,
    gt_classes: frozenset[int],
    distractors: frozenset[int],
) -> FrameData:
    """TrackEval's MOTChallenge preprocessing of one frame (rows as GroundTruth.rows; class -1 = in every class)."""
    iou = box_iou(gt_rows[:, 2:6], pred_boxes)
    classes = gt_rows[:, 7].astype(int)
    keep_pred = np.ones(len(pred_ids), dtype=bool)
    if distractors and len(gt_rows) and len(pred_ids):
        from scipy.optimize import linear_sum_assignment  # the [eval] extra (TrackEval's own matcher)

        scores = np.where(iou < MATCH_IOU - _EPS, 0.0, iou)
        rows, cols = linear_sum_assignment(-scores)
        matched = scores[rows, cols] > _EPS
        is_distractor = np.isin(classes[rows[matched]], list(distractors - gt_classes))
        keep_pred[cols[matched][is_distractor]] = False
    keep_gt = (gt_rows[:, 6] != 0) & (np.isin(classes, list(gt_classes)) | (classes == -1))
    return FrameData(gt_rows[keep_gt, 1].astype(int), np.asarray(pred_ids, dtype=int)[keep_pred], iou[keep_gt][:, keep_pred])


def _relabel(ids_per_frame: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    unique = np.unique(np.concatenate(ids_per_frame)) if ids_per_frame else np.empty(0, int)
    lookup = {int(v): i for i, v in enumerate(unique)}
    return [np.array([lookup[int(v)] for v in ids], dtype=int) for ids in ids_per_frame], len(unique)


def hota(frames: list[FrameData]) -> dict:
    """TrackEval's HOTA result dict for one sequence (arrays over the 19 alpha thresholds)."""
    _, HOTA = _libraries()
    gt_ids, num_gt_ids = _relabel([f.gt_ids for f in frames])
    pred_ids, num_pred_ids = _relabel([f.pred_ids for f in frames])
    data = {
        "num_timesteps": len(frames),
        "num_gt_ids": num_gt_ids,
        "num_tracker_ids": num_pred_ids,
        "num_gt_dets": sum(len(i) for i in gt_ids),
        "num_tracker_dets": sum(len(i) for i in pred_ids),
        "gt_ids": gt_ids,
        "tracker_ids": pred_ids,
        "similarity_scores": [f.iou for f in frames],
    }
    return HOTA().eval_sequence(data)


def combine_hota(results: list[dict]) -> dict:
    """Several sequences' HOTA results combined as TrackEval combines sequences (detection-weighted)."""
    _, HOTA = _libraries()
    return HOTA().combine_sequences({str(i): r for i, r in enumerate(results)})


def hota_summary(result: dict) -> dict[str, float]:
    """The numbers TrackEval reports: each field averaged over the alpha thresholds."""
    return {name: float(np.mean(result[name])) for name in HOTA_FIELDS}


def accumulator(frames: list[FrameData]):
    """motmetrics' accumulator of one sequence: distance 1 - IoU, no match below IoU 0.5.

    (motmetrics' own iou_matrix calls np.asfarray, which NumPy 2 removed, so the distance is computed here.)
    """
    mm, _ = _libraries()
    acc = mm.MOTAccumulator(auto_id=False)
    for t, f in enumerate(frames):
        dist = np.where(f.iou >= MATCH_IOU - _EPS, 1.0 - f.iou, np.nan)
        acc.update(f.gt_ids.tolist(), f.pred_ids.tolist(), dist, frameid=t)
    return acc


def clear_and_identity(accumulators: list, names: list[str]) -> dict[str, dict[str, float]]:
    """motmetrics' CLEAR and identity metrics per name and "OVERALL" (events of all sequences merged)."""
    mm, _ = _libraries()
    summary = mm.metrics.create().compute_many(
        accumulators, names=names, metrics=[m for _, m in MOTMETRICS], generate_overall=True
    )
    return {str(name): {column: _value(column, summary.loc[name, metric]) for column, metric in MOTMETRICS} for name in summary.index}


def _value(column: str, value) -> float | int:
    """Counts as integers; MOTP as MOTChallenge and TrackEval report it, the mean IoU of the matches
    (motmetrics gives the mean distance, 1 - IoU here; no match: 0)."""
    if column in COUNTS:
        return int(value)
    if column == "MOTP":
        return 0.0 if np.isnan(value) else 1.0 - float(value)
    return float(value)
