"""One row per object per frame, as CSV (always) or Parquet (when pyarrow is installed).

Columns: video, text_prompt, frame_idx, time_s, obj_id, label, score, x, y, w, h. Rows are written
video by video, so memory holds one video's rows at most.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .reader import ExportError, iter_frames

COLUMNS = ("video", "text_prompt", "frame_idx", "time_s", "obj_id", "label", "score", "x", "y", "w", "h")


def table_rows(record: dict) -> list[tuple]:
    """The rows of one record, in frame order then object order."""
    rows = []
    video, prompt = record["video_path"], record.get("text_prompt", "")
    for frame in iter_frames(record):
        for obj in frame.objects:
            x, y, w, h = obj["bbox"]
            rows.append((video, prompt, frame.frame_idx, frame.time_s, int(obj["obj_id"]), obj["label"], float(obj["score"]), x, y, w, h))
    return rows


class CsvExporter:
    """OUT/tracks.csv (written to a .tmp name and renamed when complete)."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / "tracks.csv"
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._file = open(self._tmp, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)

    def add(self, record: dict, name: str) -> None:
        self._writer.writerows(table_rows(record))

    def close(self) -> list[Path]:
        self._file.close()
        os.replace(self._tmp, self.path)
        return [self.path]

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ExportError("--format parquet needs pyarrow: pip install 'lang-sam-tracker[parquet]' (or use --format csv)") from None
    return pyarrow


class ParquetExporter:
    """OUT/tracks.parquet, one row group per video (written to a .tmp name and renamed when complete)."""

    def __init__(self, out_dir: Path):
        pa = _pyarrow()
        self._pa = pa
        self.path = out_dir / "tracks.parquet"
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._schema = pa.schema(
            [
                ("video", pa.string()), ("text_prompt", pa.string()), ("frame_idx", pa.int64()), ("time_s", pa.float64()),
                ("obj_id", pa.int64()), ("label", pa.string()), ("score", pa.float64()),
                ("x", pa.int64()), ("y", pa.int64()), ("w", pa.int64()), ("h", pa.int64()),
            ]
        )
        self._writer = pa.parquet.ParquetWriter(self._tmp, self._schema)

    def add(self, record: dict, name: str) -> None:
        rows = table_rows(record)
        if rows:
            columns = list(zip(*rows))
            self._writer.write_table(self._pa.table(dict(zip(COLUMNS, columns)), schema=self._schema))

    def close(self) -> list[Path]:
        self._writer.close()
        os.replace(self._tmp, self.path)
        return [self.path]

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)
