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

from .appearance import normalise
from .motion import Motion, centre

__all__ = ["SURE_Z", "Ending", "Evidence", "Motion", "Stage", "Track", "centre", "hit_rate_bound"]

SURE_Z = 1.96  # standard deviations of the lower confidence bound that makes a record sure (97.5 %, one-sided)


class Stage(enum.Enum):
    CANDIDATE = "candidate"  # followed by SAM 2, not emitted until confirmed by re-detection
    CONFIRMED = "confirmed"  # an output identity (visible or absent, still in SAM 2)
    LOST = "lost"  # left SAM 2; re-identifiable for a while
    REJECTED = "rejected"  # a candidate that was never confirmed: no trace
    ENDED = "ended"  # forgotten


class Ending(str, enum.Enum):
    """Why an identity stopped being followed (the object summary's `ended`)."""

    LEFT_FRAME = "left_frame"  # last seen at the border, then gone
    LOST = "lost"  # SAM 2 stopped seeing it inside the frame (occlusion), for longer than --max_absent
    RETIRED_FALSE_POSITIVE = "retired_false_positive"  # weak detector support over its life: a ghost
    RETIRED_UNSUPPORTED = "retired_unsupported"  # established, but still, undetected and its record not sure
    DRIFTED = "drifted"  # its mask slid onto something that does not look like it
    DUPLICATE = "duplicate"  # another track followed the same thing


def hit_rate_bound(hits: int, n: int, z: float = SURE_Z) -> float:
    """The lower Wilson score bound (`z` standard deviations) of a hit rate of `hits` in `n`."""
    if not n:
        return 0.0
    p, z2 = hits / n, z * z
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (p + z2 / (2 * n) - spread) / (1 + z2 / n)


@dataclass
class Evidence:
    """Detection frames on which the track was visible, and whether a detection matched it."""

    outcomes: deque = field(default_factory=deque)  # (time_s, hit) of the recent window
    recent_hits: int = 0  # hits among `outcomes`
    hits: int = 0
    opportunities: int = 0
    first_s: float | None = None
    first_hit_s: float | None = None
    last_hit_s: float | None = None
    opportunities_to_last_hit: int = 0  # detection frames up to and including the latest hit
    established_s: float | None = None  # when detections had confirmed it long and often enough

    def record(self, t: float, hit: bool, keep_s: float, keep_n: int) -> None:
        self.outcomes.append((t, hit))
        self.recent_hits += hit
        self.opportunities += 1
        self.hits += hit
        if self.first_s is None:
            self.first_s = t
        if hit:
            self.first_hit_s = t if self.first_hit_s is None else self.first_hit_s
            self.last_hit_s, self.opportunities_to_last_hit = t, self.opportunities
        while len(self.outcomes) > keep_n and self.outcomes[0][0] < t - keep_s:
            self.recent_hits -= self.outcomes.popleft()[1]

    def window(self, t: float, span_s: float, min_count: int) -> tuple[int, int]:
        """(hits, opportunities) of the last `span_s` seconds, stretched back to at least `min_count` of them."""
        while len(self.outcomes) > min_count and self.outcomes[0][0] < t - span_s:
            self.recent_hits -= self.outcomes.popleft()[1]
        return self.recent_hits, len(self.outcomes)

    def end_blind_spell(self) -> None:
        """The detector sees it again after a blind spell it was followed through: the spell was judged
        already, so the retirement window restarts at this detection (the spell's misses stay in the
        life record: `support` and `sure` still count them)."""
        latest = self.outcomes[-1]
        self.outcomes.clear()
        self.outcomes.append(latest)
        self.recent_hits = int(latest[1])

    def inherit(self, old: "Evidence", t: float) -> None:
        """Count an identity's earlier evidence as this track's (it continues that identity)."""
        self.opportunities_to_last_hit = (
            old.opportunities + self.opportunities_to_last_hit if self.last_hit_s is not None else old.opportunities_to_last_hit
        )
        self.hits += old.hits
        self.opportunities += old.opportunities
        if old.first_hit_s is not None:
            self.first_hit_s = old.first_hit_s
            self.last_hit_s = self.last_hit_s if self.last_hit_s is not None else old.last_hit_s
        if old.established_s is not None:
            self.established_s = t

    def support(self) -> float:
        """Detections matched per detection frame over its life, up to its latest hit: how well the
        detector supported it, not counting the current blind spell (a recent gap is not weak evidence)."""
        return self.hits / self.opportunities_to_last_hit if self.opportunities_to_last_hit else 0.0

    def support_bound(self) -> float:
        """A lower confidence bound of `support()`: what the detection record proves about the hit
        rate, so that a few lucky hits prove little."""
        return hit_rate_bound(self.hits, self.opportunities_to_last_hit)

    def sure(self, min_count: int, after_s: float, min_rate: float) -> bool:
        """Sure to be real: over at least `min_count` detection frames and `after_s` seconds up to its
        latest hit, the hit rate is above `min_rate` with 97.5 % confidence (Wilson bound)."""
        if self.first_hit_s is None or self.last_hit_s is None or self.opportunities_to_last_hit < min_count:
            return False
        return self.last_hit_s - self.first_hit_s >= after_s and self.support_bound() >= min_rate

    def establish(self, t: float, min_hits: int, after_s: float, min_rate: float) -> bool:
        """Established (for good) once detections matched it `min_hits` times across `after_s`
        seconds, on `min_rate` of its detection frames or more."""
        if self.established_s is None and self.first_hit_s is not None and self.last_hit_s is not None:
            if self.hits >= min_hits and self.last_hit_s - self.first_hit_s >= after_s and self.support() >= min_rate:
                self.established_s = t
        return self.established_s is not None


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
    prototype: np.ndarray | None = None  # appearance on hit frames, with an exponential memory in seconds
    prototype_weight: float = 0.0
    prototype_s: float = 0.0  # when it was last updated
    looks: int = 0  # appearance observations learnt
    appearance: np.ndarray | None = None  # this frame's appearance
    visible: bool = False
    detected: bool = False  # matched on the latest detection frame it was visible on
    followed_through: bool = False  # followed through a detector blind spell since its latest detection
    absent_since_s: float | None = None
    left_at_edge: bool = False  # last seen touching the frame border
    lost_s: float | None = None  # when it left SAM 2
    ending: Ending | None = None
    last_reanchor_s: float = -math.inf
    superseded: bool = False  # its identity went on in another track (re-identification)
    off_since_s: float | None = None  # since when it has not looked like itself (drift)
    on_ghost: object | None = None  # a candidate on a remembered ghost (see `ghosts`)
    still_retirements: int = 0  # times this identity was retired standing still, unsupported

    @property
    def label(self) -> str:
        if not self.votes:
            return ""
        best = max(self.votes.values())
        return min(label for label, weight in self.votes.items() if weight == best)  # ties: stable

    @property
    def decided(self) -> bool:
        return self.stage is not Stage.CANDIDATE

    @property
    def off_appearance(self) -> bool:
        return self.off_since_s is not None

    def vote(self, label: str, score: float) -> None:
        self.votes[label] += max(float(score), 1e-3)
        self.score = float(score)

    def learn_appearance(self, vector: np.ndarray | None, t: float, memory_s: float) -> None:
        """Fold this frame's appearance into the prototype: a mean whose past weighs exp(-age / memory_s)."""
        if vector is None or not np.any(vector):
            return
        if self.prototype is None:
            self.prototype, self.prototype_weight, self.prototype_s, self.looks = normalise(vector), 1.0, t, 1
            return
        w = self.prototype_weight * math.exp(-max(0.0, t - self.prototype_s) / memory_s)
        w = max(w, 1.0 if self.looks < 3 else 0.0)  # the first few looks weigh alike
        mean = self.prototype * w + vector
        norm = float(np.sqrt(np.dot(mean, mean)))
        self.prototype = (mean / norm).astype(np.float32) if norm > 0 else self.prototype
        self.prototype_weight, self.prototype_s = w + 1, t
        self.looks += 1

    def looks_like(self, vector: np.ndarray | None) -> float:
        """Cosine similarity to the prototype (both unit length, or zero: `views` normalises)."""
        if self.prototype is None or vector is None:
            return 0.0
        return float(np.dot(self.prototype, vector))

    def absorb(self, old: "Track", t: float, memory_s: float) -> None:
        """Take over `old`'s identity (re-identification): its output id, votes, appearance and path."""
        self.out_id = old.out_id
        self.votes.update(old.votes)
        if old.prototype is not None:
            mine = self.prototype
            self.prototype, self.prototype_weight, self.prototype_s = old.prototype, old.prototype_weight, old.prototype_s
            self.looks += old.looks
            self.learn_appearance(mine, t, memory_s)
        self.evidence.inherit(old.evidence, t)
        self.still_retirements += old.still_retirements
        here = self.motion.box
        self.motion = old.motion
        self.motion.resume(here, t)
        old.superseded = True
        old.stage = Stage.ENDED
