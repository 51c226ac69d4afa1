"""Converting results files into other formats: MOTChallenge, CSV/Parquet, YouTube-VIS, a per-object summary.

    python -m lang_sam_tracker.export results.jsonl --format mot csv --out exported/
"""

from .source import ExportError, Record, iter_records

__all__ = ["ExportError", "Record", "iter_records"]
