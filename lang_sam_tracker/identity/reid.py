"""Re-identification: does a newly confirmed track continue an identity that was lost?

Three gates, all required: at least a third of the new track's detections carry the old
track's (voted) label; appearance (cosine of appearance prototypes)
of at least `reid_similarity`; and the new track's first position within the old one's reach
(its decaying-velocity prediction, a radius in object sizes that grows with the time gone).
Then one-to-one assignment on a score of appearance minus a distance penalty. A match whose
runner-up (another old identity for this track, or another new track for this identity) scores
within `reid_margin` is ambiguous: the new track gets a new id rather than a guess, since
handing an id to a *different* object is the error users cannot repair.
"""

from __future__ import annotations

import numpy as np

from .settings import IdentityConfig
from .geometry import assign
from .tracks import Track, centre

_REFUSED = -np.inf


def reid_scores(
    new: list[Track], old: list[Track], cfg: IdentityConfig, frame_wh: tuple[float, float] | None = None
) -> np.ndarray:
    """(len(new), len(old)) scores; -inf where a gate refuses the pair."""
    scores = np.full((len(new), len(old)), _REFUSED)
    for i, n in enumerate(new):
        born_box = n.first_box if n.first_box is not None else n.motion.box
        for j, o in enumerate(old):
            if n.votes[o.label] < 0.3 * sum(n.votes.values()):
                continue  # labels waver (Grounding DINO confuses them): a third of the votes will do
            similarity = o.looks_like(n.prototype)
            if similarity < cfg.reid_similarity:
                continue
            distance = float(np.linalg.norm(centre(born_box) - centre(o.motion.predict(n.born_s, frame_wh))))
            reach = o.motion.reach(n.born_s, cfg.reid_speed)
            if distance > reach:
                continue
            scores[i, j] = similarity - 0.25 * distance / reach
    return scores


def reidentify(
    new: list[Track], old: list[Track], cfg: IdentityConfig, frame_wh: tuple[float, float] | None = None
) -> dict[int, Track]:
    """Index into `new` -> the old track whose identity it continues (unambiguous matches only)."""
    if not new or not old:
        return {}
    scores = reid_scores(new, old, cfg, frame_wh)
    finite = np.isfinite(scores)
    result = assign(np.where(finite, scores, -1.0), 0.0)
    matches: dict[int, Track] = {}
    for i, j in result.pairs:
        if not finite[i, j]:
            continue
        best = scores[i, j]
        rivals = np.concatenate([np.delete(scores[i], j), np.delete(scores[:, j], i)])
        if np.any(rivals[np.isfinite(rivals)] >= best - cfg.reid_margin):
            continue  # two plausible answers: do not guess
        matches[i] = old[j]
    return matches
