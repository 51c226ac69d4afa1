"""Identities: which SAM 2 objects are which physical objects, and for how long.

- `settings`: the settings (imported eagerly: cheap, and what the command line needs);
- `geometry`: box IoU, one-to-one assignment, mask coverage of boxes, speck-free boxes;
- `appearance`: appearance vectors and their similarity;
- `views`: what the tracker sees of each SAM 2 object on a frame;
- `tracks`: one track's lifecycle stage, evidence, label votes, appearance and motion;
- `reid`: re-identification of lost identities;
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
}

__all__ = ["IdentityConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
