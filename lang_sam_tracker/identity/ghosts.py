"""Ghost memory: static regions SAM 2 followed without the detector's support.

A retired track that did not move and still looked as it did is a *ghost* (a poster, a statue,
a reflection). A new candidate that looks the same and sits in the same place is on probation:
it is confirmed only once it shows what the ghost never did, movement (`min_motion` object sizes
of travel) or detections that prove a hit rate of at least `min_hit_rate` over `retire_after`
seconds (stretched to `min_opportunities` detection frames; the lower 97.5 % Wilson bound, as for a
sure record, so that at sparse rates a poster's lucky 2 hits in 4 do not bring its id back: a
person who stood still, undetected, and is now seen again proves it). Otherwise it is rejected
when that evidence is in. A ghost is no blacklist for moving things.

Memory is bounded: a ghost is forgotten `ghost_memory` seconds after its retirement, and at most
`max_ghosts` are kept (the oldest forgotten first).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from .appearance import cosine
from .motion import centre
from .settings import IdentityConfig
from .tracks import Track, hit_rate_bound

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ghost:
    out_id: int | None
    box: np.ndarray
    extent: float
    prototype: np.ndarray | None
    retired_s: float
    track: Track  # the retired track: a candidate that passes probation continues its id


class GhostMemory:
    def __init__(self, cfg: IdentityConfig) -> None:
        self.cfg = cfg
        self._ghosts: deque[Ghost] = deque()

    def __len__(self) -> int:
        return len(self._ghosts)

    def remember(self, track: Track, t: float) -> None:
        boxes = np.array([b for _, b in track.motion.path])  # its usual place: robust to passers-by hiding part of it
        self._ghosts.append(Ghost(track.out_id, np.median(boxes, axis=0), track.motion.extent, track.prototype, t, track))
        while len(self._ghosts) > self.cfg.max_ghosts:
            logger.debug("ghost memory full (%d): ghost %s forgotten", self.cfg.max_ghosts, self._ghosts[0].out_id)
            self._ghosts.popleft()

    def forget_old(self, t: float) -> None:
        while self._ghosts and t - self._ghosts[0].retired_s > self.cfg.ghost_memory:
            self._ghosts.popleft()

    def at(self, track: Track) -> Ghost | None:
        """The ghost `track` sits on (same look, within `min_motion` sizes of its place), if any."""
        here = centre(track.motion.box)
        for ghost in reversed(self._ghosts):
            near = np.linalg.norm(here - centre(ghost.box)) <= max(ghost.extent, 1.0)
            if near and cosine(ghost.prototype, track.prototype) >= self.cfg.reid_similarity:
                return ghost
        return None


def probation(track: Track, ghost: Ghost, t: float, cfg: IdentityConfig) -> bool | None:
    """For a candidate on `ghost`: True (it moved away, or is consistently detected: confirm),
    False (the evidence is in and it is the ghost again: reject), None (not decided yet)."""
    if track.motion.moved(track.born_s) >= cfg.min_motion:
        return True
    ev = track.evidence
    hits, chances = ev.window(t, cfg.retire_after, cfg.min_opportunities)
    if ev.first_s is None or t - ev.first_s < cfg.retire_after or chances < cfg.min_opportunities:
        return None
    return hit_rate_bound(hits, chances) >= cfg.min_hit_rate
