"""Converting results files into other formats: MOTChallenge, CSV/Parquet, YouTube-VIS, a per-object summary.

    python -m lang_sam_tracker.export results.jsonl --format mot csv --out exported/
"""

from .reader import ExportError, FrameObjects, iter_frames, iter_results

__all__ = ["ExportError", "FrameObjects", "iter_frames", "iter_results"]
