"""The tests' doubles: the package's own bad-as-real doubles (lang_sam_tracker.testing.doubles)."""

from lang_sam_tracker.testing.doubles import (  # noqa: F401
    DetectorFaults,
    NoisyDetector,
    SegmenterFaults,
    StickySegmenter,
)
