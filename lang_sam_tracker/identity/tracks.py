"""One track's state: lifecycle stage, detection evidence, label votes, appearance, motion.

A track is one object SAM 2 follows (its `sam_id`). It becomes an output identity (`out_id`)
only once confirmed; ids are handed out in confirmation order, so output ids are dense, unique
and never reused, and a rejected candidate leaves no trace.
"""

from __future__ import annotations

import enum
import math
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from .appearance import cosine, normalise


class Stage(enum.Enum):
    CANDIDATE = "candidate"  # followed by SAM 2, not emitted until confirmed by re-detection
    CONFIRMED = "confirmed"  # an output identity (visible or absent, still in SAM 2)
    LOST = "lost"  # left SAM 2; re-identifiable for a while
    REJECTED = "rejected"  # a candidate that was never confirmed: no trace
    ENDED = "ended"  # forgotten


@dataclass
class Motion:
    """Where an object was last seen and how fast it moved, with a velocity that decays.

    Times are seconds of video, so a clip processed at 5 fps and at 30 fps predicts alike. The
    prediction extrapolates the velocity with time constant `tau_s` (objects slow down, turn, stop:
    a constant-velocity guess 100 frames ahead is mostly wrong), and the reach of the gate grows
    with the time gone.
    """

    box: np.ndarray  # last box, pixel-edge xyxy
    seen_s: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre, pixels per second
    tau_s: float = 1.0
    extent: float = 0.0  # typical size (pixels): slow to shrink, so a half-visible last box does not fool it

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float64)
        self.extent = max(self.extent, _side(self.box))

    def observe(self, box: np.ndarray, t: float) -> None:
        box = np.asarray(box, dtype=np.float64)
        self.extent = max(0.98 * self.extent, _side(box))
        dt = t - self.seen_s
        if dt > 0:
            step = (centre(box) - centre(self.box)) / dt
            alpha = min(1.0, dt / 0.5)  # about half a second of smoothing
            self.velocity = (1 - alpha) * self.velocity + alpha * step
        self.box, self.seen_s = box, t

    def predict(self, t: float, frame_wh: tuple[float, float] | None = None) -> np.ndarray:
        """Where the box should be at `t`; its centre kept inside a `frame_wh` frame when given."""
        dt = max(0.0, t - self.seen_s)
        shift = self.velocity * self.tau_s * (1 - math.exp(-dt / self.tau_s))
        if frame_wh is not None:
            shift = np.clip(centre(self.box) + shift, 0, frame_wh) - centre(self.box)
        return self.box + np.concatenate([shift, shift])

    def reach(self, t: float, sizes_per_s: float) -> float:
        """How far (pixels) the object's centre may be from the prediction after being gone until `t`."""
        dt = max(0.0, t - self.seen_s)
        return max(self.extent, 1.0) * (1.0 + sizes_per_s * dt)


def _side(box: np.ndarray) -> float:
    """Square root of a box's area."""
    w, h = box[2] - box[0], box[3] - box[1]
    return float(math.sqrt(max(w, 0.0) * max(h, 0.0)))


def centre(box: np.ndarray) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64)
    return (box[:2] + box[2:]) / 2


@dataclass
class Evidence:
    """Detection frames on which the track was visible, and whether a detection matched it."""

    outcomes: deque = field(default_factory=deque)  # (time_s, hit)
    hits: int = 0
    opportunities: int = 0

    def record(self, t: float, hit: bool, keep_s: float) -> None:
        self.outcomes.append((t, hit))
        self.opportunities += 1
        self.hits += hit
        while len(self.outcomes) > 1 and self.outcomes[0][0] < t - keep_s:
            self.outcomes.popleft()

    def recent(self, since_s: float) -> tuple[int, int]:
        """(hits, opportunities) at or after `since_s`."""
        window = [hit for t, hit in self.outcomes if t >= since_s]
        return sum(window), len(window)


@dataclass
class Track:
    sam_id: int
    stage: Stage
    motion: Motion
    born_s: float
    score: float = 0.0  # the last matched detection's score
    out_id: int | None = None
    first_box: np.ndarray | None = None  # where it was first prompted
    evidence: Evidence = field(default_factory=Evidence)
    votes: Counter = field(default_factory=Counter)  # label -> summed detection scores
    prototype: np.ndarray | None = None  # running mean appearance (hit frames only)
    prototype_weight: float = 0.0
    appearance: np.ndarray | None = None  # this frame's appearance
    visible: bool = False
    absent_since_s: float | None = None
    left_at_edge: bool = False  # last seen touching the frame border
    lost_s: float | None = None  # when it left SAM 2
    last_reanchor_s: float = -math.inf
    superseded: bool = False  # its identity went on in another track (re-identification)
    off_appearance: int = 0  # consecutive visible frames on which it did not look like itself

    @property
    def label(self) -> str:
        if not self.votes:
            return ""
        best = max(self.votes.values())
        return min(label for label, weight in self.votes.items() if weight == best)  # ties: stable

    @property
    def decided(self) -> bool:
        return self.stage is not Stage.CANDIDATE

    def vote(self, label: str, score: float) -> None:
        self.votes[label] += max(float(score), 1e-3)
        self.score = float(score)

    def learn_appearance(self, vector: np.ndarray | None, max_weight: float = 20.0) -> None:
        """Fold this frame's appearance into the prototype (a mean that slowly follows change)."""
        if vector is None or not np.any(vector):
            return
        if self.prototype is None:
            self.prototype, self.prototype_weight = normalise(vector), 1.0
            return
        w = min(self.prototype_weight, max_weight)
        self.prototype = normalise((self.prototype * w + vector) / (w + 1))
        self.prototype_weight = w + 1

    def looks_like(self, vector: np.ndarray | None) -> float:
        return cosine(self.prototype, vector)

    def absorb(self, old: "Track") -> None:
        """Take over `old`'s identity (re-identification): its output id, votes and appearance."""
        self.out_id = old.out_id
        self.votes.update(old.votes)
        if old.prototype is not None:
            mine = self.prototype
            self.prototype, self.prototype_weight = old.prototype, old.prototype_weight
            self.learn_appearance(mine)
        old.superseded = True
        old.stage = Stage.ENDED
