"""The rule that decides whether a confirmed track SAM 2 still sees stays reported.

SAM 2's word counts: an object SAM 2 follows with a mask that looks like itself is there. The
detector's silence alone retires nothing that has a real history; what retires a track is weak
evidence over its life, or standing still without support:

| evidence (SAM 2 calls the track visible)                                        | verdict            |
|----------------------------------------------------------------------------------|--------------------|
| its mask stopped looking like it for `drift_after` s                             | DRIFTED (lost)     |
| detections matched >= `min_hit_rate` of its detection frames in `retire_after` s | keep               |
| weak recent support, but *established* (matched across `establish_after` s at    | keep (followed     |
| `min_hit_rate` or better) and *moving* (>= `min_motion` sizes in that window)     | through the gap)   |
| weak recent support, never established                                           | retire: a ghost    |
| weak recent support, established but standing still                             | retire (lost,      |
|                                                                                  | re-identifiable)   |

"Recent" is the last `retire_after` seconds, stretched back to `min_opportunities` detection frames
when detection is sparse (so with `--fps 2 --detection_frequency 5` a verdict needs 10 s). A retired track that did not move and still
looks as it did, and either had detections on fewer than `min_hit_rate` of its detection frames over
its life (up to its latest detection: the current gap does not count) or was retired standing still
before, is remembered as a ghost (see `ghosts`); any other retired track stays re-identifiable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .settings import IdentityConfig
from .tracks import Track


class Action(enum.Enum):
    KEEP = "keep"
    FOLLOW_THROUGH = "follow_through"  # kept although the detector is silent: established and moving
    RETIRE = "retire"
    DRIFTED = "drifted"


@dataclass(frozen=True)
class Verdict:
    action: Action
    hits: int = 0
    chances: int = 0
    moved: float = 0.0  # object sizes in the window
    established: bool = False

    def numbers(self) -> str:
        return (
            f"hits {self.hits}/{self.chances} in the window, moved {self.moved:.2f} sizes, "
            f"{'established' if self.established else 'never established'}"
        )


def judge(track: Track, t: float, cfg: IdentityConfig) -> Verdict:
    """The verdict on a confirmed track SAM 2 calls visible on this frame."""
    if track.off_since_s is not None and t - track.off_since_s >= cfg.drift_after:
        return Verdict(Action.DRIFTED)
    ev = track.evidence
    established = ev.establish(t, cfg.min_hits, cfg.establish_after, cfg.min_hit_rate)
    hits, chances = ev.window(t, cfg.retire_after, cfg.min_opportunities)
    if chances < cfg.min_opportunities or hits >= cfg.min_hit_rate * chances:
        return Verdict(Action.KEEP, hits, chances, established=established)
    moved = track.motion.moved(ev.outcomes[0][0])  # over the judged window
    if established and moved >= cfg.min_motion:
        return Verdict(Action.FOLLOW_THROUGH, hits, chances, moved, established)
    return Verdict(Action.RETIRE, hits, chances, moved, established)

