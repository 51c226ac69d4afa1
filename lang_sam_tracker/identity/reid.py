"""Re-identification: does a newly confirmed track continue an identity that is gone?

Gates, all required: at least a third of the new track's detections carry the old track's (voted)
label; appearance (cosine of appearance prototypes) of at least `reid_similarity`; and the new
track's first position within `GATE` standard deviations of the old one's constant-velocity
prediction (`motion`: the uncertainty grows with the time gone). The score adds both:
appearance minus `MOTION_WEIGHT` x (distance in standard deviations)^2, so after a short gap
where an object is matters more than small differences in look, and look-alikes are told apart
by where they are. Then one-to-one assignment; a match whose runner-up (another old identity for
this track, or another new track for this identity) scores within `reid_margin` is ambiguous: the
new track gets a new id rather than a guess, since handing an id to a *different* object is the
error users cannot repair.
"""

from __future__ import annotations

import numpy as np

from .geometry import assign
from .motion import centre
from .settings import IdentityConfig
from .tracks import Track

_REFUSED = -np.inf
GATE = 3.0  # standard deviations
MOTION_WEIGHT = 0.05


def reid_scores(
    new: list[Track], old: list[Track], cfg: IdentityConfig, frame_wh: tuple[float, float] | None = None
) -> np.ndarray:
    """(len(new), len(old)) scores; -inf where a gate refuses the pair."""
    scores = np.full((len(new), len(old)), _REFUSED)
    for j, o in enumerate(old):
        for i, n in enumerate(new):
            if n.votes[o.label] < 0.3 * sum(n.votes.values()):
                continue  # labels waver (Grounding DINO confuses them): a third of the votes will do
            similarity = o.looks_like(n.prototype)
            if similarity < cfg.reid_similarity:
                continue
            born_box = n.first_box if n.first_box is not None else n.motion.box
            predicted = centre(o.motion.predict(n.born_s, frame_wh))
            z = float(np.linalg.norm(centre(born_box) - predicted)) / o.motion.sd(n.born_s, cfg.reid_speed)
            if z > GATE:
                continue
            scores[i, j] = similarity - MOTION_WEIGHT * z * z
    return scores


def reidentify(
    new: list[Track], old: list[Track], cfg: IdentityConfig, frame_wh: tuple[float, float] | None = None
) -> tuple[dict[int, Track], np.ndarray]:
    """Index into `new` -> the old track whose identity it continues (unambiguous matches only),
    and the score matrix it was decided on."""
    if not new or not old:
        return {}, np.zeros((len(new), len(old)))
    scores = reid_scores(new, old, cfg, frame_wh)
    finite = np.isfinite(scores)
    result = assign(np.where(finite, scores, -1.0), -0.5)
    matches: dict[int, Track] = {}
    for i, j in result.pairs:
        if not finite[i, j]:
            continue
        best = scores[i, j]
        rivals = np.concatenate([np.delete(scores[i], j), np.delete(scores[:, j], i)])
        if np.any(rivals[np.isfinite(rivals)] >= best - cfg.reid_margin):
            continue  # two plausible answers: do not guess
        matches[i] = old[j]
    return matches, scores
