"""Matching detections to tracks: IoU matrices, one-to-one assignment, the lost-track buffer.

Pure functions and small containers, no models: the tracker decides *when* to match, this module
decides *what* matches. Boxes are pixel-edge xyxy arrays of shape (N, 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of pixel-edge xyxy boxes; empty boxes have IoU 0 with everything."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def center_similarity(a: np.ndarray, b: np.ndarray, max_distance: float) -> np.ndarray:
    """1 at equal centres, falling linearly to 0 at `max_distance` pixels apart (and below 0 beyond)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=-1)
    return 1.0 - dist / max(max_distance, 1e-9)


@dataclass
class Assignment:
    """Result of a one-to-one assignment between rows (detections) and columns (tracks)."""

    pairs: list[tuple[int, int]]
    unmatched_rows: list[int]
    unmatched_cols: list[int]


def assign(similarity: np.ndarray, min_similarity: float) -> Assignment:
    """Hungarian assignment maximising total similarity; pairs below `min_similarity` are refused.

    One-to-one by construction: two detections can never claim the same track (the flaw of greedy
    first-match schemes).
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    n_rows, n_cols = similarity.shape if similarity.ndim == 2 else (0, 0)
    if n_rows == 0 or n_cols == 0:
        return Assignment([], list(range(n_rows)), list(range(n_cols)))
    # Gate before solving so that a forbidden pair cannot displace an allowed one.
    gated = np.where(similarity >= min_similarity, similarity, -1e6)
    rows, cols = linear_sum_assignment(gated, maximize=True)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if similarity[r, c] >= min_similarity]
    matched_rows = {r for r, _ in pairs}
    matched_cols = {c for _, c in pairs}
    return Assignment(
        pairs,
        [r for r in range(n_rows) if r not in matched_rows],
        [c for c in range(n_cols) if c not in matched_cols],
    )


@dataclass
class Motion:
    """Where a track was last seen and how fast it was moving (constant-velocity prediction).

    Re-identification compares a returning detection with where the object should be *now*, so an
    object that walked out of the frame is not confused with a new one entering beside that spot.
    """

    box: np.ndarray  # last visible box, pixel-edge xyxy
    seen_at: int  # processed-frame counter of that box
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre, pixels per processed frame
    smoothing: float = 0.5

    def observe(self, box: np.ndarray, at: int) -> None:
        box = np.asarray(box, dtype=np.float64)
        if at > self.seen_at:
            step = (_centre(box) - _centre(self.box)) / (at - self.seen_at)
            self.velocity = self.smoothing * self.velocity + (1 - self.smoothing) * step
        self.box, self.seen_at = box, at

    def predict(self, at: int) -> np.ndarray:
        shift = self.velocity * max(0, at - self.seen_at)
        return self.box + np.concatenate([shift, shift])


def _centre(box: np.ndarray) -> np.ndarray:
    return (np.asarray(box[:2], dtype=np.float64) + np.asarray(box[2:], dtype=np.float64)) / 2


@dataclass
class LostTrack:
    """A track removed from SAM 2 but kept for re-identification."""

    obj_id: int
    label: str
    score: float
    motion: Motion
    lost_at: int  # processed-frame counter when it was removed


class LostBuffer:
    """Recently lost tracks, forgotten after `window` processed frames."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._tracks: dict[int, LostTrack] = {}

    def __len__(self) -> int:
        return len(self._tracks)

    def __iter__(self):
        return iter(list(self._tracks.values()))

    def add(self, track: LostTrack) -> None:
        self._tracks[track.obj_id] = track

    def pop(self, obj_id: int) -> LostTrack:
        return self._tracks.pop(obj_id)

    def expire(self, now: int) -> list[int]:
        """Forget tracks lost more than `window` processed frames ago; return their ids."""
        old = [i for i, t in self._tracks.items() if now - t.lost_at > self.window]
        for obj_id in old:
            del self._tracks[obj_id]
        return old


def reid_similarity(
    det_boxes: np.ndarray,
    det_labels: list[str],
    cand_boxes: np.ndarray,
    cand_labels: list[str],
    max_distance: float,
) -> np.ndarray:
    """Similarity for re-identifying absent or lost tracks: IoU, or nearness of centres when the
    object came back beside where it was last seen; -inf across different labels."""
    sim = np.maximum(box_iou(det_boxes, cand_boxes), center_similarity(det_boxes, cand_boxes, max_distance))
    same_label = np.array([[d == c for c in cand_labels] for d in det_labels], dtype=bool).reshape(sim.shape)
    return np.where(same_label, sim, -np.inf)
