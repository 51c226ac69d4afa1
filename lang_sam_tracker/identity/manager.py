"""The identity lifecycle of one video: candidate -> confirmed -> absent -> lost -> ended.

`IdentityManager` decides, frame by frame, which SAM 2 objects are the same physical object as
which output ids. It never calls SAM 2 itself: it returns box prompts and ids to remove, and the
tracker carries them out. Per processed frame, in order, each phase's input and output explicit:

1. `observe(views, t) -> Seen`: visibility, motion, appearance drift (which tracks are not reported
   on this frame, and the corrections to try for them), two SAM 2 objects on one thing;
2. `associate(dets, views, t, seen) -> Prompts` (detection frames): evidence for every reported
   track (see `association`), candidates for new objects, rare re-anchoring;
3. `prompted(views, prompts, t, seen) -> Seen`: SAM 2's answers to the prompts folded in;
4. `decide(t, detection_frame) -> Decisions`: confirm (with re-identification) or reject
   candidates, retire tracks (`retirement`), let absent ones go, forget old lost ones and ghosts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from ..detectors.base import Detections
from . import reid
from .association import associate
from .ghosts import GhostMemory, probation
from .retirement import Action, judge
from .settings import IdentityConfig
from .tracks import Ending, Motion, Stage, Track
from .views import FrameViews, ObjectView

logger = logging.getLogger(__name__)


@dataclass
class Prompts:
    """Box prompts for SAM 2 on the current frame: new objects, and corrections of existing ones."""

    new: dict[int, np.ndarray] = field(default_factory=dict)
    corrections: dict[int, np.ndarray] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.new or self.corrections)

    def boxes(self) -> dict[int, np.ndarray]:
        return {**self.new, **self.corrections}


@dataclass(frozen=True)
class Seen:
    """What SAM 2 showed on this frame: tracks visible but not reported (their mask drifted onto
    something that does not look like them), and corrections to try for the ones that just did."""

    hidden: frozenset[int] = frozenset()
    corrections: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class Decisions:
    """What `decide` did on this frame (sam ids)."""

    confirmed: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    retired: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    """A visible track held for output on a frame, and whether a detection matched it lately."""

    track: Track
    view: ObjectView
    detected: bool


class IdentityManager:
    """Per-video identity state; a fresh one for every video, so nothing leaks between videos."""

    def __init__(self, config: IdentityConfig, height: int, width: int) -> None:
        self.cfg = config
        self.height, self.width = height, width
        self.live: dict[int, Track] = {}  # in SAM 2, by sam_id: candidates and confirmed tracks
        self.lost: list[Track] = []
        self.ghosts = GhostMemory(config)
        self.identities: dict[int, Track] = {}  # out_id -> the track that carries it now
        self._next_sam_id = 0
        self._next_out_id = 0
        self._removals: list[int] = []

    # ------------------------------------------------------------------ queries
    def final_labels(self) -> dict[int, str]:
        """out_id -> the label most of its detections voted for."""
        return {out_id: track.label for out_id, track in self.identities.items()}

    def endings(self) -> dict[int, str | None]:
        """out_id -> why it stopped being followed (an `Ending` value), None if followed to the end."""
        return {
            out_id: (track.ending.value if track.ending is not None and track.stage is not Stage.CONFIRMED else None)
            for out_id, track in self.identities.items()
        }

    def take_removals(self) -> list[int]:
        """SAM 2 objects to remove now (rejected, retired, absent too long, duplicates)."""
        out, self._removals = self._removals, []
        return out

    def reportable(self, views: FrameViews, seen: Seen) -> list[Entry]:
        """Every visible track worth holding for output on this frame (candidates included: whether
        they are reported is decided later, see `emission`)."""
        out = []
        for sam_id, track in self.live.items():
            view = views.objects.get(sam_id)
            if view is not None and view.visible and sam_id not in seen.hidden:
                out.append(Entry(track, view, track.detected))
        return out

    # ------------------------------------------------------------------ 1. observe
    def observe(self, views: FrameViews, t: float) -> Seen:
        """Take in SAM 2's view of this frame. A confirmed track that just stopped looking like
        itself gets one correction where it should be (SAM 2's correction path)."""
        hidden: set[int] = set()
        corrections: dict[int, np.ndarray] = {}
        for sam_id, track in self.live.items():
            if not self._see(track, views.objects.get(sam_id), t):
                hidden.add(sam_id)
                if track.stage is Stage.CONFIRMED and track.off_since_s == t:
                    corrections[sam_id] = track.motion.predict(t, (self.width, self.height))
        self._drop_duplicates(views, hidden, t)
        return Seen(frozenset(hidden), corrections)

    def _see(self, track: Track, view: ObjectView | None, t: float) -> bool:
        """Fold SAM 2's view of `track` into its state; False when visible but drifted (not reported)."""
        if view is None or not view.visible:
            track.visible, track.appearance = False, None
            if track.absent_since_s is None:
                track.absent_since_s = t
            return True
        track.visible, track.absent_since_s = True, None
        track.appearance = view.appearance
        learnt = track.prototype is not None and (track.stage is Stage.CANDIDATE or track.looks >= 2)
        if learnt and track.looks_like(track.appearance) < self.cfg.drift_similarity:
            if track.off_since_s is None:
                track.off_since_s = t
            return False  # a drifted mask says nothing of the object's path
        track.off_since_s = None
        track.motion.observe(view.box, t)
        track.left_at_edge = self._at_edge(view.box)
        return True

    def _drop_duplicates(self, views: FrameViews, hidden: set[int], t: float) -> None:
        """Two SAM 2 objects on one thing (mask IoU >= duplicate_iou): keep one.

        A candidate never displaces a confirmed track; otherwise the one that looks more like
        what is there stays (the other drifted onto it). A confirmed track dropped this way
        becomes lost, so it can come back where it really is.
        """
        visible = [s for s in views.objects if s in self.live and self.live[s].visible and s not in hidden]
        rows = np.array([views.objects[s].row for s in visible], np.int64)
        if len(rows) < 2:
            return
        close = np.triu(views.mask_iou[np.ix_(rows, rows)] >= self.cfg.duplicate_iou, 1)
        if not close.any():
            return
        ranks = {s: (self.live[s].stage is not Stage.CONFIRMED, self.live[s].born_s, s) for s in visible}
        rank = ranks.__getitem__  # confirmed first, then the oldest
        gone: set[int] = set()
        for i, j in sorted(zip(*np.nonzero(close)), key=lambda p: (rank(visible[p[0]]), rank(visible[p[1]]))):
            a, b = sorted((visible[i], visible[j]), key=rank)
            if a in gone or b in gone:
                continue
            keep, drop = self.live[a], self.live[b]
            if keep.stage is drop.stage:
                here = views.objects[a].appearance
                if drop.looks_like(here) > keep.looks_like(here) + 0.05:
                    keep, drop = drop, keep
            logger.debug("SAM 2 objects %d and %d follow one thing: %d dropped", a, b, drop.sam_id)
            gone.add(drop.sam_id)
            if drop.stage is Stage.CANDIDATE:
                self._reject(drop)
            else:
                self._to_lost(drop, t, Ending.DUPLICATE)

    def _at_edge(self, box: np.ndarray) -> bool:
        mx, my = max(2.0, 0.02 * self.width), max(2.0, 0.02 * self.height)
        x0, y0, x1, y1 = (float(v) for v in box)
        return x0 <= mx or y0 <= my or x1 >= self.width - mx or y1 >= self.height - my

    # ------------------------------------------------------------------ 2. associate
    def associate(self, dets: Detections, views: FrameViews, t: float, seen: Seen) -> Prompts:
        """Match `dets` to the reported tracks; returns the new candidates and corrections to prompt."""
        cfg = self.cfg
        prompts = Prompts(corrections=dict(seen.corrections))
        reported = [tr for s, tr in self.live.items() if tr.visible and s not in seen.hidden]
        found = associate(dets, views, reported, t, cfg)
        keep_s = max(cfg.retire_after, 1.0)
        for track in reported:
            d = found.hits.get(track.sam_id)
            track.detected = d is not None
            track.evidence.record(t, d is not None, keep_s, cfg.min_opportunities)
            if d is None:
                continue
            if track.followed_through:
                track.followed_through = False
                track.evidence.end_blind_spell()
            track.vote(dets.labels[d], float(dets.scores[d]))
            track.learn_appearance(track.appearance, t, cfg.appearance_memory)
        for track in self.live.values():
            if track.stage is Stage.CANDIDATE and not track.visible:
                track.evidence.record(t, False, keep_s, cfg.min_opportunities)  # SAM 2 lost a candidate: evidence against
        for sam_id, box in found.reanchor.items():
            prompts.corrections[sam_id] = box
            self.live[sam_id].last_reanchor_s = t
        for d in found.new:
            box = np.asarray(dets.boxes_xyxy[d], np.float64)
            motion = Motion(box, t, path_s=max(8.0, 2 * cfg.retire_after))
            track = Track(self._next_sam_id, Stage.CANDIDATE, motion, born_s=t, first_box=box, detected=True)
            self._next_sam_id += 1
            track.vote(dets.labels[d], float(dets.scores[d]))
            track.evidence.record(t, True, keep_s, cfg.min_opportunities)
            self.live[track.sam_id] = track
            prompts.new[track.sam_id] = dets.boxes_xyxy[d]
        return prompts

    # ------------------------------------------------------------------ 3. prompted
    def prompted(self, views: FrameViews, prompts: Prompts, t: float, seen: Seen) -> Seen:
        """Fold in SAM 2's answers to the prompts (new candidates get their first mask and look; a
        drift correction that put the mask back on the object ends its hiding). A new candidate
        that plainly continues an identity lost moments ago is confirmed now."""
        hidden = set(seen.hidden)
        for sam_id in prompts.boxes():
            view, track = views.objects.get(sam_id), self.live.get(sam_id)
            if view is None or track is None:
                continue
            if sam_id in prompts.new:
                if view.visible:
                    track.learn_appearance(view.appearance, t, self.cfg.appearance_memory)
                self._see(track, view, t)
            elif sam_id in hidden and self._see(track, view, t):
                hidden.discard(sam_id)  # back on the object
        fresh = [self.live[s] for s in prompts.new if s in self.live and self.live[s].prototype is not None]
        if fresh:
            self._resume_quickly(fresh, t)
        return Seen(frozenset(hidden), seen.corrections)

    # ------------------------------------------------------------------ 4. decide
    def decide(self, t: float, detection_frame: bool) -> Decisions:
        cfg = self.cfg
        done = Decisions()
        for track in [tr for tr in self.live.values() if tr.stage is Stage.CONFIRMED]:
            if track.visible:
                self._judge(track, t, done)
            elif track.absent_since_s is not None:
                limit = cfg.exit_absent if track.left_at_edge else cfg.max_absent
                if t - track.absent_since_s >= limit:
                    self._to_lost(track, t, Ending.LEFT_FRAME if track.left_at_edge else Ending.LOST)
                    done.lost.append(track.sam_id)
        if detection_frame:
            ready = []
            for track in [tr for tr in self.live.values() if tr.stage is Stage.CANDIDATE]:
                verdict = self._candidate(track, t)
                if verdict is False:
                    self._reject(track)
                    done.rejected.append(track.sam_id)
                elif verdict:
                    ready.append(track)
            if ready:
                self._confirm(ready, t)
                done.confirmed.extend(tr.sam_id for tr in ready)
        for track in [tr for tr in self.lost if t - tr.lost_s > cfg.lost_window]:
            track.stage = Stage.ENDED
            self.lost.remove(track)
        self.ghosts.forget_old(t)
        return done

    def _judge(self, track: Track, t: float, done: Decisions) -> None:
        verdict = judge(track, t, self.cfg)
        if verdict.action is Action.DRIFTED:
            logger.debug("id %s drifted onto something else for %.2f s: lost", track.out_id, t - track.off_since_s)
            self._to_lost(track, t, Ending.DRIFTED)
            done.lost.append(track.sam_id)
        elif verdict.action is Action.RETIRE:
            ev = track.evidence
            weak_life = ev.support() < self.cfg.min_hit_rate
            still = verdict.moved < self.cfg.min_motion
            # A ghost: still, looking as it did, and either weakly supported over its life or retired
            # standing still before (a region the detector fires on now and then, over and over).
            again = weak_life or track.still_retirements > 0
            ghost = again and still and track.looks_like(track.appearance) >= self.cfg.reid_similarity
            track.still_retirements += still
            ending = Ending.RETIRED_FALSE_POSITIVE if weak_life or not verdict.established else Ending.RETIRED_UNSUPPORTED
            logger.debug(
                "id %s retired at %.2f s (%s): %s, support %.2f over its life%s",
                track.out_id, t, ending.value, verdict.numbers(), ev.support(), ", remembered as a ghost" if ghost else "",
            )
            self._to_lost(track, t, ending)
            if ghost:  # not re-identifiable by anything new: only what passes the ghost's probation
                self.lost.remove(track)
                self.ghosts.remember(track, t)
            done.retired.append(track.sam_id)
        elif verdict.action is Action.FOLLOW_THROUGH and not track.followed_through:
            track.followed_through = True  # logged once per blind spell
            logger.debug("id %s followed through a detector blind spell: %s", track.out_id, verdict.numbers())

    def _candidate(self, track: Track, t: float) -> bool | None:
        """True: ready to confirm; False: reject; None: wait for more evidence."""
        cfg, ev = self.cfg, track.evidence
        if track.off_appearance:
            return False
        if track.on_ghost is None and ev.hits >= cfg.min_hits:
            track.on_ghost = self.ghosts.at(track)
            if track.on_ghost is not None:
                logger.debug("SAM 2 object %d sits on ghost %s: on probation", track.sam_id, track.on_ghost.out_id)
        if track.on_ghost is not None:
            return probation(track, track.on_ghost, t, cfg)
        if ev.hits >= cfg.min_hits:
            return True
        if ev.hits + (cfg.confirm_window - ev.opportunities) < cfg.min_hits:
            return False
        return None

    def finish(self) -> None:
        """End of video: undecided candidates are settled on the evidence they have."""
        for track in [tr for tr in self.live.values() if tr.stage is Stage.CANDIDATE]:
            if track.evidence.hits >= self.cfg.min_hits and track.on_ghost is None:
                self._confirm([track], track.motion.seen_s)
            else:
                self._reject(track)

    def _confirm(self, ready: list[Track], t: float) -> None:
        """Confirm candidates; each either continues a gone identity or gets the next output id."""
        back = {i: tr.on_ghost.track for i, tr in enumerate(ready) if tr.on_ghost is not None}
        back = {i: old for i, old in back.items() if old.stage is Stage.LOST}  # passed probation: the object is back
        rest = [tr for i, tr in enumerate(ready) if i not in back]
        matches = self._reidentify(rest, self._reid_pool(), self.cfg, t)
        for i, track in enumerate(rest):
            self._promote(track, matches.get(i), t)
        for i, old in back.items():
            self._promote(ready[i], old, t)

    def _resume_quickly(self, new: list[Track], t: float) -> None:
        """A new candidate that clearly is an identity lost moments ago (a drift, a short gap)
        continues it at once, without waiting for re-detection: no gap in its output."""
        cfg = self.cfg
        new = [tr for tr in new if self.ghosts.at(tr) is None]  # a ghost again waits for its probation
        recent = [tr for tr in self._reid_pool() if tr.stage is Stage.CONFIRMED or t - tr.lost_s <= cfg.quick_window]
        strict = replace(cfg, reid_similarity=(1 + cfg.reid_similarity) / 2)
        for i, old in self._reidentify(new, recent, strict, t).items():
            self._promote(new[i], old, t)

    def _reid_pool(self) -> list[Track]:
        """Identities a new track may continue: only those truly gone (lost, or confirmed ones SAM 2
        does not see or has let drift). A visible track that looks like itself never lends its id."""
        gone = [tr for tr in self.live.values() if tr.stage is Stage.CONFIRMED and (not tr.visible or tr.off_appearance)]
        return gone + self.lost

    def _reidentify(self, new: list[Track], pool: list[Track], cfg: IdentityConfig, t: float) -> dict[int, Track]:
        matches, scores = reid.reidentify(new, pool, cfg, (self.width, self.height))
        if pool and logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "t=%.2f s: re-identifying SAM 2 objects %s against ids %s (appearance - motion scores %s, margin %.2f): %s",
                t,
                [tr.sam_id for tr in new],
                [tr.out_id for tr in pool],
                np.round(scores, 2).tolist(),
                cfg.reid_margin,
                {new[i].sam_id: old.out_id for i, old in matches.items()} or "no unambiguous match",
            )
        return matches

    def _promote(self, track: Track, old: Track | None, t: float) -> None:
        track.stage, track.on_ghost = Stage.CONFIRMED, None
        if old is None:
            track.out_id = self._next_out_id
            self._next_out_id += 1
            ev = track.evidence
            logger.debug("SAM 2 object %d confirmed as id %d at %.2f s: %d hits in %d detection frames", track.sam_id, track.out_id, t, ev.hits, ev.opportunities)
        else:
            if old.sam_id in self.live and self.live[old.sam_id] is old:
                del self.live[old.sam_id]
                self._removals.append(old.sam_id)
            elif old in self.lost:
                self.lost.remove(old)
            track.absorb(old, t, self.cfg.appearance_memory)
            logger.debug("SAM 2 object %d continues id %d at %.2f s", track.sam_id, track.out_id, t)
        self.identities[track.out_id] = track

    def _reject(self, track: Track) -> None:
        track.stage = Stage.REJECTED
        if self.live.pop(track.sam_id, None) is not None:
            self._removals.append(track.sam_id)

    def _to_lost(self, track: Track, t: float, ending: Ending) -> None:
        track.stage, track.lost_s, track.visible, track.ending = Stage.LOST, t, False, ending
        track.off_since_s = None
        if self.live.pop(track.sam_id, None) is not None:
            self._removals.append(track.sam_id)
        self.lost.append(track)
