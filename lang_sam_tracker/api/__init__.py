"""The Python API: track from a notebook or a script, read results files back.

- `Tracker`: the models loaded once; `Tracker.track(video, prompt)` returns a `TrackResult`;
- `read_results(path)`: the records of a results file (any layout) as `TrackResult`s;
- `TrackResult.frames` -> `TrackedFrame` (frame index, time, objects) -> `TrackedObject` (id,
  label, score, box, mask decoded on request); `TrackResult.objects` -> `ObjectSummary`;
  `TrackedFrame.to_supervision()` -> `supervision.Detections` (the [supervision] extra).
"""

from .track_result import Frames, ObjectSummary, Results, TrackedFrame, TrackedObject, TrackResult, read_results
from .session import Tracker

__all__ = ["Frames", "ObjectSummary", "Results", "TrackResult", "TrackedFrame", "TrackedObject", "Tracker", "read_results"]
