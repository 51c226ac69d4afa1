"""The identity lifecycle of one video: candidate -> confirmed -> absent -> lost -> ended.

`IdentityManager` decides, frame by frame, which SAM 2 objects are the same physical object as
which output ids. It never calls SAM 2 itself: it returns box prompts and ids to remove, and the
tracker carries them out. Per processed frame, in order:

1. `observe`: visibility, motion, appearance drift, and two SAM 2 objects on one thing (duplicates);
2. `associate` (detection frames): detections to visible tracks by mask coverage, one-to-one;
   evidence (hit or miss) for every visible track; unclaimed detections start candidates; rare,
   uncontested re-anchoring;
3. `decide`: confirm (with re-identification) or reject candidates, retire ghosts, let absent
   tracks go, forget old lost ones.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from ..detectors.base import Detections
from .settings import IdentityConfig
from . import reid
from .geometry import assign, box_iou, mask_coverage
from .tracks import Motion, Stage, Track
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


class IdentityManager:
    """Per-video identity state; a fresh one for every video, so nothing leaks between videos."""

    def __init__(self, config: IdentityConfig, height: int, width: int) -> None:
        self.cfg = config
        self.height, self.width = height, width
        self.live: dict[int, Track] = {}  # in SAM 2, by sam_id: candidates and confirmed tracks
        self.lost: list[Track] = []
        self.ghosts: deque[Track] = deque(maxlen=64)  # retired ghosts: what they follow is not confirmed again
        self.identities: dict[int, Track] = {}  # out_id -> the track that carries it now
        self._next_sam_id = 0
        self._next_out_id = 0
        self._removals: list[int] = []
        self._hidden: set[int] = set()  # sam ids not to report on this frame (drifted)

    # ------------------------------------------------------------------ queries
    def final_labels(self) -> dict[int, str]:
        """out_id -> the label most of its detections voted for."""
        return {out_id: track.label for out_id, track in self.identities.items()}

    def take_removals(self) -> list[int]:
        """SAM 2 objects to remove now (rejected, retired, absent too long, duplicates)."""
        out, self._removals = self._removals, []
        return out

    def reportable(self, views: FrameViews) -> list[tuple[Track, ObjectView]]:
        """(track, view) of every visible track worth holding for output on this frame.

        Candidates are included: whether they are reported is decided later (see `emission`).
        """
        out = []
        for sam_id, track in self.live.items():
            view = views.objects.get(sam_id)
            if view is not None and view.visible and sam_id not in self._hidden:
                out.append((track, view))
        return out

    # ------------------------------------------------------------------ 1. observe
    def observe(self, views: FrameViews, t: float) -> Prompts:
        """Take in SAM 2's view of this frame; returns corrections for tracks that just drifted:
        a box where the object should be (SAM 2's correction path), tried once per drift."""
        self._hidden = set()
        prompts = Prompts()
        for sam_id, track in self.live.items():
            self._see(track, views.objects.get(sam_id), t, check_drift=True)
            if sam_id in self._hidden and track.stage is Stage.CONFIRMED and track.off_appearance == 1:
                prompts.corrections[sam_id] = track.motion.predict(t, (self.width, self.height))
        self._drop_duplicates(views, t)
        return prompts

    def _see(self, track: Track, view: ObjectView | None, t: float, check_drift: bool) -> None:
        """Fold SAM 2's view of `track` on this frame into its state (visibility, look, path)."""
        if view is None or not view.visible:
            track.visible, track.appearance = False, None
            if track.absent_since_s is None:
                track.absent_since_s = t
            return
        track.visible, track.absent_since_s = True, None
        track.appearance = view.appearance
        if check_drift:
            self._hidden.discard(track.sam_id)
            self._check_drift(track)
        if track.sam_id not in self._hidden:  # a drifted mask says nothing of the object's path
            track.motion.observe(view.box, t)
            track.left_at_edge = self._at_edge(view.box)

    def _check_drift(self, track: Track) -> None:
        """A track whose mask no longer looks like it has slid onto something else: it is not
        reported there; a candidate is dropped at once, a confirmed track after `drift_frames`."""
        learnt = track.prototype is not None and (track.stage is Stage.CANDIDATE or track.prototype_weight >= 2)
        if not learnt or track.looks_like(track.appearance) >= self.cfg.drift_similarity:
            track.off_appearance = 0
            return
        track.off_appearance += 1
        self._hidden.add(track.sam_id)

    def _drop_duplicates(self, views: FrameViews, t: float) -> None:
        """Two SAM 2 objects on one thing (mask IoU >= duplicate_iou): keep one.

        A candidate never displaces a confirmed track; otherwise the one that looks more like
        what is there stays (the other drifted onto it). A confirmed track dropped this way
        becomes lost, so it can come back where it really is.
        """
        ids = list(views.objects)
        order = {sam_id: n for n, sam_id in enumerate(ids)}
        visible = sorted(
            (s for s in ids if s in self.live and self.live[s].visible and s not in self._hidden),
            key=lambda s: (self.live[s].stage is not Stage.CONFIRMED, self.live[s].born_s, s),
        )
        gone: set[int] = set()
        for a_pos, a in enumerate(visible):
            if a in gone:
                continue
            for b in visible[a_pos + 1 :]:
                if b in gone or views.mask_iou[order[a], order[b]] < self.cfg.duplicate_iou:
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
                    self._to_lost(drop, t)
                if drop.sam_id == a:
                    break

    def _at_edge(self, box: np.ndarray) -> bool:
        mx, my = max(2.0, 0.02 * self.width), max(2.0, 0.02 * self.height)
        x0, y0, x1, y1 = (float(v) for v in box)
        return x0 <= mx or y0 <= my or x1 >= self.width - mx or y1 >= self.height - my

    # ------------------------------------------------------------------ 2. associate
    def associate(self, dets: Detections, views: FrameViews, t: float, prompts: Prompts) -> Prompts:
        """Match `dets` to the visible tracks; add new candidates and re-anchorings to `prompts`."""
        cfg = self.cfg
        visible = [s for s, tr in self.live.items() if tr.visible and s not in self._hidden]
        grid = np.stack([views.objects[s].grid for s in visible]) if visible else np.zeros((0, 1, 1), bool)
        coverage = mask_coverage(dets.boxes_xyxy, grid, views.step)
        score = coverage.match_score()
        eligible = (score >= cfg.match_threshold) & (coverage.of_mask >= 0.5)
        result = assign(np.where(eligible, score, -1.0), cfg.match_threshold)
        det_iou = box_iou(dets.boxes_xyxy, dets.boxes_xyxy)
        hit: set[int] = set()
        for d, c in result.pairs:
            track = self.live[visible[c]]
            hit.add(track.sam_id)
            track.vote(dets.labels[d], float(dets.scores[d]))
            if track.stage is Stage.CANDIDATE or track.off_appearance == 0:
                track.learn_appearance(track.appearance)
            contested = int(np.sum(eligible[d])) > 1 or int(np.sum(coverage.of_box[d] >= 0.1)) > 1
            contested |= bool(np.any(np.delete(det_iou[d], d) > 0.1))
            if (
                track.stage is Stage.CONFIRMED
                and not contested
                and coverage.of_mask[d, c] >= 0.9
                and box_iou(dets.boxes_xyxy[d : d + 1], views.objects[track.sam_id].box[None])[0, 0] < cfg.reanchor_iou
                and t - track.last_reanchor_s >= cfg.reanchor_interval
            ):
                prompts.corrections[track.sam_id] = dets.boxes_xyxy[d]
                track.last_reanchor_s = t
        keep_s = max(cfg.retire_after, 1.0)
        for sam_id, track in self.live.items():
            if track.visible and sam_id not in self._hidden:
                track.evidence.record(t, sam_id in hit, keep_s)
            elif track.stage is Stage.CANDIDATE:
                track.evidence.record(t, False, keep_s)  # SAM 2 lost a candidate: evidence against
        for d in result.unmatched_rows:
            if coverage.of_box.shape[1] and coverage.of_box[d].max() >= cfg.cover_fraction:
                continue  # inside a tracked object's mask: a part or a duplicate of it
            box = np.asarray(dets.boxes_xyxy[d], np.float64)
            track = Track(self._next_sam_id, Stage.CANDIDATE, Motion(box, t), born_s=t, first_box=box)
            self._next_sam_id += 1
            track.vote(dets.labels[d], float(dets.scores[d]))
            track.evidence.record(t, True, keep_s)
            self.live[track.sam_id] = track
            prompts.new[track.sam_id] = dets.boxes_xyxy[d]
        return prompts

    def prompted(self, views: FrameViews, prompts: Prompts, t: float) -> None:
        """Fold in SAM 2's answers to the prompts (new candidates get their first mask and look);
        a new candidate that plainly continues an identity lost moments ago is confirmed now."""
        for sam_id in prompts.boxes():
            view, track = views.objects.get(sam_id), self.live.get(sam_id)
            if view is None or track is None:
                continue
            new = sam_id in prompts.new
            if new and view.visible:
                track.learn_appearance(view.appearance)
            # a drift correction: back on the object?
            self._see(track, view, t, check_drift=not new and sam_id in self._hidden)
        fresh = [self.live[s] for s in prompts.new if s in self.live and self.live[s].prototype is not None]
        if fresh:
            self._resume_quickly(fresh, t)

    # ------------------------------------------------------------------ 3. decide
    def decide(self, t: float, detection_frame: bool) -> None:
        cfg = self.cfg
        for track in list(self.live.values()):
            if track.stage is not Stage.CONFIRMED:
                continue
            if track.visible:
                hits, chances = track.evidence.recent(t - cfg.retire_after)
                if track.off_appearance >= cfg.drift_frames:
                    logger.debug("track %s drifted onto something else: lost", track.out_id)
                    self._to_lost(track, t)
                elif chances >= cfg.min_opportunities and hits < cfg.min_hit_rate * chances:
                    logger.debug("track %s no longer confirmed by the detector (%d/%d): a ghost", track.out_id, hits, chances)
                    self._retire_ghost(track, t)
            elif track.absent_since_s is not None:
                limit = cfg.exit_absent if track.left_at_edge else cfg.max_absent
                if t - track.absent_since_s >= limit:
                    self._to_lost(track, t)

        if detection_frame:
            ready = []
            for track in [tr for tr in self.live.values() if tr.stage is Stage.CANDIDATE]:
                ev = track.evidence
                if track.off_appearance:
                    self._reject(track)
                    continue
                if ev.hits >= cfg.min_hits:
                    ready.append(track)
                elif ev.hits + (cfg.confirm_window - ev.opportunities) < cfg.min_hits:
                    self._reject(track)
            if ready:
                self._confirm(ready, t)
        for track in [tr for tr in self.lost if t - tr.lost_s > cfg.lost_window]:
            track.stage = Stage.ENDED
            self.lost.remove(track)

    def finish(self) -> None:
        """End of video: undecided candidates are settled on the evidence they have."""
        for track in [tr for tr in self.live.values() if tr.stage is Stage.CANDIDATE]:
            if track.evidence.hits >= self.cfg.min_hits:
                self._confirm([track], track.motion.seen_s)
            else:
                self._reject(track)

    def _confirm(self, ready: list[Track], t: float) -> None:
        """Confirm candidates; each either continues a lost identity or gets the next output id.

        A candidate that is a retired ghost again (same look, same place: a poster the detector
        fires on now and then) is rejected instead: the detector does not support it.
        """
        ready = self._not_ghosts(ready)
        matches = self._reidentify(ready, self._reid_pool(), self.cfg)
        for i, track in enumerate(ready):
            self._promote(track, matches.get(i))

    def _resume_quickly(self, new: list[Track], t: float) -> None:
        """A new candidate that clearly is an identity lost moments ago (a drift, a short gap)
        continues it at once, without waiting for re-detection: no gap in its output."""
        cfg = self.cfg
        new = self._not_ghosts(new)
        recent = [tr for tr in self._reid_pool() if tr.stage is Stage.CONFIRMED or t - tr.lost_s <= cfg.quick_window]
        strict = replace(cfg, reid_similarity=(1 + cfg.reid_similarity) / 2)
        for i, old in self._reidentify(new, recent, strict).items():
            self._promote(new[i], old)

    def _not_ghosts(self, new: list[Track]) -> list[Track]:
        """Reject the tracks that are a retired ghost again (same look, same place); return the rest."""
        if not self.ghosts or not new:
            return new
        again = reid.reidentify(new, list(self.ghosts), self.cfg, (self.width, self.height))
        for i, ghost in again.items():
            logger.debug("SAM 2 object %d is ghost %s again: rejected", new[i].sam_id, ghost.out_id)
            self._reject(new[i])
        return [tr for i, tr in enumerate(new) if i not in again]

    def _reid_pool(self) -> list[Track]:
        """Identities a new track may continue: lost ones, and confirmed ones SAM 2 does not see,
        has let drift, or the detector stopped confirming."""
        stale = [
            tr
            for tr in self.live.values()
            if tr.stage is Stage.CONFIRMED and (not tr.visible or tr.off_appearance or self._unsupported(tr))
        ]
        return stale + self.lost

    def _reidentify(self, new: list[Track], pool: list[Track], cfg: IdentityConfig) -> dict[int, Track]:
        matches = reid.reidentify(new, pool, cfg, (self.width, self.height))
        if pool and logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "re-identifying %s against %s: %s -> %s",
                [tr.sam_id for tr in new],
                [tr.out_id for tr in pool],
                np.round(reid.reid_scores(new, pool, cfg, (self.width, self.height)), 2).tolist(),
                {new[i].sam_id: old.out_id for i, old in matches.items()},
            )
        return matches

    def _promote(self, track: Track, old: Track | None) -> None:
        track.stage = Stage.CONFIRMED
        if old is None:
            track.out_id = self._next_out_id
            self._next_out_id += 1
        else:
            if old.sam_id in self.live and self.live[old.sam_id] is old:
                del self.live[old.sam_id]
                self._removals.append(old.sam_id)
            else:
                self.lost.remove(old)
            track.absorb(old)
        self.identities[track.out_id] = track

    def _unsupported(self, track: Track) -> bool:
        """Visible, but the detector missed it on each of its last few chances (a drift suspect)."""
        recent = list(track.evidence.outcomes)[-self.cfg.min_hits :]
        return len(recent) == self.cfg.min_hits and not any(hit for _, hit in recent)

    def _reject(self, track: Track) -> None:
        track.stage = Stage.REJECTED
        if self.live.pop(track.sam_id, None) is not None:
            self._removals.append(track.sam_id)

    def _retire_ghost(self, track: Track, t: float) -> None:
        """SAM 2 still follows it, the detector no longer confirms it. If it still looks like
        what was confirmed, it is a ghost (a false positive SAM 2 keeps following): remembered so
        that it is not confirmed again. Either way it leaves SAM 2 as a lost identity."""
        if track.looks_like(track.appearance) >= self.cfg.reid_similarity:
            self.ghosts.append(track)
        self._to_lost(track, t)

    def _to_lost(self, track: Track, t: float) -> None:
        track.stage, track.lost_s, track.visible = Stage.LOST, t, False
        track.off_appearance = 0
        if self.live.pop(track.sam_id, None) is not None:
            self._removals.append(track.sam_id)
        self.lost.append(track)
