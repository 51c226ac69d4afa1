"""Text-prompted multi-object tracking in videos: Grounding DINO finds, SAM 2 follows.

    from lang_sam_tracker import Tracker, read_results

    tracker = Tracker(device="cuda")                  # models load once; the CLI's defaults and flags
    result = tracker.track("clip.mp4", "person . car")
    for frame in result.frames:                       # frame_idx, time_s, objects (obj_id, label, score, box, mask)
        ...
    result.objects                                    # the per-object summary
    result.save("results.jsonl")                      # the CLI's record format, appended

    for result in read_results("results.jsonl"):      # any results file, any layout
        ...

The API lives in `lang_sam_tracker.api` and is imported on first use, so `import lang_sam_tracker`
stays light (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["ObjectSummary", "TrackResult", "TrackedFrame", "TrackedObject", "Tracker", "read_results", "__version__"]

if TYPE_CHECKING:
    from .api import ObjectSummary, TrackedFrame, TrackedObject, Tracker, TrackResult, read_results


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'lang_sam_tracker' has no attribute {name!r}")
