"""Identity settings (the tracking `--flags` of the same names). Every duration is seconds of video,
so the rules behave alike at `--fps 2` and at 30 fps, with detection on every frame or every 10th;
the counts (`min_hits`, `confirm_window`, `min_opportunities`, `sure_evidence`) are numbers of detection frames, i.e.
amounts of evidence, and take longer to gather when detection is sparse."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IdentityConfig:
    # Confirmation: a candidate becomes an output identity after `min_hits` matched detections
    # within its first `confirm_window` detection frames; otherwise it leaves SAM 2 without a trace.
    min_hits: int = 3
    confirm_window: int = 5
    # Retirement (see `retirement`): a confirmed track that SAM 2 calls visible but that detections
    # matched on fewer than `min_hit_rate` of its detection frames over the last `retire_after`
    # seconds (stretched back to at least `min_opportunities` detection frames when detection is
    # sparse) leaves SAM 2, *unless* it is established and moving: detections confirmed it across
    # `establish_after` seconds at `min_hit_rate` or better, and its mask moved at least
    # `min_motion` object sizes within that window, *or* established and sure: its detection record up
    # to its latest hit spans `sure_after` seconds and at least `sure_evidence` detection frames, and
    # proves a hit rate above `min_hit_rate` (lower 97.5 % Wilson bound: a poster hit on a third of
    # frames never gets there, a few lucky hits prove nothing). Such a track, moving or standing still,
    # is kept through a detector blind spell however long, while SAM 2 sees it and it looks like itself.
    retire_after: float = 4.0
    min_hit_rate: float = 0.45
    min_opportunities: int = 4
    establish_after: float = 1.0
    min_motion: float = 0.5
    sure_after: float = 1.5
    sure_evidence: int = 10
    # A retired track that did not move and still looks as it did is a ghost (SAM 2 following a
    # static region): a new candidate there, looking the same and not moving, must show what the
    # ghost never did (movement, or detections proving `min_hit_rate` over `retire_after` seconds) before
    # it is confirmed. Ghosts are remembered `ghost_memory` seconds, at most `max_ghosts` of them.
    ghost_memory: float = 60.0
    max_ghosts: int = 64
    # Absence: an object SAM 2 no longer sees stays in SAM 2 this long (SAM 2 often re-finds it
    # after an occlusion); one last seen at the frame border has left: `exit_absent` only.
    max_absent: float = 3.0
    exit_absent: float = 0.2
    lost_window: float = 10.0  # a track that left SAM 2 stays re-identifiable this long
    # Matching a detection to a visible track by its mask (of_mask * sqrt(of_box), see geometry).
    match_threshold: float = 0.4
    cover_fraction: float = 0.6  # an unmatched detection this much inside one track's mask is that track
    # Re-anchoring (SAM 2's correction path): only an uncontested detection whose box the mask
    # fills this poorly (box IoU), at most once per `reanchor_interval` seconds per object.
    reanchor_iou: float = 0.3
    reanchor_interval: float = 2.0
    duplicate_iou: float = 0.8  # two tracks whose masks overlap this much are one object
    # Re-identification: appearance cosine similarity at least `reid_similarity`, and a position
    # within the gate of a constant-velocity prediction whose uncertainty grows by `reid_speed`
    # object sizes per second gone; scored on appearance and motion together. A runner-up within
    # `reid_margin` of the best makes the match ambiguous: a new id instead of a guess.
    reid_similarity: float = 0.8
    reid_margin: float = 0.1
    reid_speed: float = 1.0
    # A new track that plainly (appearance halfway from reid_similarity to 1) continues an identity lost
    # less than this long ago, or one SAM 2 lost or let drift, continues it at once.
    quick_window: float = 2.0
    # A visible track that no longer looks like itself (cosine to its appearance below this) has
    # drifted onto something else: it is not reported there, and leaves after `drift_after` seconds.
    drift_similarity: float = 0.35
    drift_after: float = 0.1
    # How long the appearance prototype remembers (seconds of video: an exponential memory).
    appearance_memory: float = 2.0

    def __post_init__(self) -> None:
        for name in ("min_hits", "confirm_window", "min_opportunities", "sure_evidence", "max_ghosts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.min_hits > self.confirm_window:
            raise ValueError(f"--min_hits ({self.min_hits}) cannot exceed --confirm_window ({self.confirm_window})")
        for name in (
            "retire_after", "establish_after", "min_motion", "sure_after", "ghost_memory", "max_absent", "exit_absent",
            "lost_window", "reanchor_interval", "reid_speed", "quick_window", "drift_after",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds")
        if self.appearance_memory <= 0:
            raise ValueError("appearance_memory must be > 0 seconds")
