"""The rule that decides whether a confirmed track SAM 2 still sees stays reported.

SAM 2's word counts: an object SAM 2 follows with a mask that looks like itself is there. The
detector's silence alone retires nothing that has a real history; what retires a track is weak
evidence over its life, or standing still without enough evidence to be sure:

| evidence (SAM 2 calls the track visible)                                        | verdict            |
|----------------------------------------------------------------------------------|--------------------|
| its mask stopped looking like it for `drift_after` s                             | DRIFTED (lost)     |
| detections matched >= `min_hit_rate` of its detection frames in `retire_after` s | keep               |
| weak recent support, but *established* (matched across `establish_after` s at    | keep (followed     |
| `min_hit_rate` or better) and *moving* (>= `min_motion` sizes in that window)     | through the gap)   |
| weak recent support, but established and *sure*: up to its latest detection, its | keep (followed     |
| record spans >= `sure_after` s and >= `sure_evidence` detection frames, and the   | through the gap,   |
| lower 97.5 % Wilson bound of its hit rate is >= `min_hit_rate`                    | standing still)    |
| weak recent support, never established                                           | retire: a ghost    |
| weak recent support, established, standing still and not sure                    | retire (lost,      |
|                                                                                  | re-identifiable)   |

Sure is a statement about evidence, not time: a poster the detector fires on for a third of the
frames has a hit rate below `min_hit_rate`, so its bound never gets there however long it is seen
(a lucky start can hold it for a while at sparse rates, until the record catches up); a person
detected on 85 % of frames gets there after `sure_after` seconds and ~10 detection frames: 1.5 s at
30 fps, ~10 s at `--fps 5 --detection_frequency 5`, ~25 s at `--fps 2 --detection_frequency 5` (sparse
evidence takes longer to be sure of; until then a still, undetected object is retired and
re-identifiable). When the detector sees a followed-through track again, its blind spell has been
judged: the window restarts at that detection (`Evidence.end_blind_spell`), while the spell's misses
stay in its life record, so a poster's record keeps every miss it ever had.

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
    FOLLOW_THROUGH = "follow_through"  # kept although the detector is silent: established, moving or sure
    RETIRE = "retire"
    DRIFTED = "drifted"


@dataclass(frozen=True)
class Verdict:
    action: Action
    hits: int = 0
    chances: int = 0
    moved: float = 0.0  # object sizes in the window
    established: bool = False
    sure: bool = False
    bound: float = 0.0  # lower confidence bound of its hit rate up to its latest detection

    def numbers(self) -> str:
        return (
            f"hits {self.hits}/{self.chances} in the window, moved {self.moved:.2f} sizes, "
            f"{'established' if self.established else 'never established'}, "
            f"hit rate >= {self.bound:.2f} at 97.5 % ({'sure' if self.sure else 'not sure'})"
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
    sure = established and ev.sure(cfg.sure_evidence, cfg.sure_after, cfg.min_hit_rate)
    action = Action.FOLLOW_THROUGH if established and (moved >= cfg.min_motion or sure) else Action.RETIRE
    return Verdict(action, hits, chances, moved, established, sure, ev.support_bound())
