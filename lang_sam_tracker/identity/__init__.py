"""Identities: which SAM 2 objects are which physical objects, and for how long.

- `geometry`: box IoU, one-to-one assignment, mask coverage of boxes, speck-free boxes;
- `appearance`: appearance vectors and their similarity;
- `views`: what the tracker sees of each SAM 2 object on a frame;
- `tracks`: one track's lifecycle stage, evidence, label votes, appearance and motion;
- `reid`: re-identification of lost identities;
- `manager`: the per-video lifecycle (candidate -> confirmed -> absent -> lost -> ended);
- `emission`: output held back until candidates are decided.
"""

from .config import IdentityConfig
from .emission import HeldFrames, Reported
from .manager import IdentityManager, Prompts
from .views import FrameViews, ObjectView, frame_views

__all__ = [
    "FrameViews",
    "HeldFrames",
    "IdentityConfig",
    "IdentityManager",
    "ObjectView",
    "Prompts",
    "Reported",
    "frame_views",
]
