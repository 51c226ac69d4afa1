"""Identities: which SAM 2 objects are which physical objects, and for how long.

- `settings`: the settings (imported eagerly: cheap, and what the command line needs);
- `geometry`: box IoU, one-to-one assignment, speck-free boxes;
- `crops`: each mask measured on its own box's crop (coverage of detection boxes, mask IoU), any resolution;
- `appearance`: appearance vectors and their similarity;
- `motion`: constant-velocity prediction with an uncertainty that grows with the time gone;
- `views`: what the tracker sees of each SAM 2 object on a frame;
- `tracks`: one track's lifecycle stage, evidence, label votes, appearance and motion;
- `association`: detections to visible tracks on a detection frame;
- `retirement`: the rule that keeps or retires a track SAM 2 still follows;
- `ghosts`: bounded memory of static regions SAM 2 followed without support;
- `reid`: re-identification of gone identities (appearance and motion together);
- `manager`: the per-video lifecycle (candidate -> confirmed -> absent -> lost -> ended);
- `emission`: output held back until candidates are decided.

The rest is imported on first use, so `--help` does not pay for OpenCV and SciPy.
"""

from importlib import import_module
from typing import Any

from .settings import IdentityConfig

_LAZY = {
    "FrameViews": "views",
    "ObjectView": "views",
    "frame_views": "views",
    "HeldFrames": "emission",
    "Reported": "emission",
    "IdentityManager": "manager",
    "Prompts": "manager",
    "Seen": "manager",
    "Entry": "manager",
    "Decisions": "manager",
}

__all__ = ["IdentityConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
