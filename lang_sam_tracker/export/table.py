"""One row per object per frame, as CSV (always) or Parquet (when pyarrow is installed).

Columns: video, text_prompt, frame_idx, time_s, obj_id, label, score, x, y, w, h. Rows are
streamed: CSV writes each frame's rows as it is read; Parquet holds at most ROW_GROUP rows (a row
group; a video's rows never share one with another video's).
"""

from __future__ import annotations

import array
import csv
import itertools
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from .source import ExportError, Record

COLUMNS = ("video", "text_prompt", "frame_idx", "time_s", "obj_id", "label", "score", "x", "y", "w", "h")


ROW_GROUP = 16384
# A Parquet row group is gathered in typed arrays (8 bytes a number) rather than tuples: "q" int64, "d" float64, "" str.
_TYPECODES = ("", "", "q", "d", "q", "", "d", "q", "q", "q", "q")


def table_rows(record: Record) -> Iterator[tuple]:
    """The rows of one record, in frame order then object order (streamed: one frame in memory at a time)."""
    video, prompt = record.video_path, record.text_prompt
    for frame in record.frames():
        for obj in frame.objects:
            x, y, w, h = obj["bbox"]
            yield (video, prompt, frame.frame_idx, frame.time_s, int(obj["obj_id"]), obj["label"], float(obj["score"]), x, y, w, h)


class CsvExporter:
    """OUT/tracks.csv (written to a .tmp name and renamed when complete)."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / "tracks.csv"
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._file = open(self._tmp, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)

    def add(self, record: Record, name: str) -> None:
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
    """OUT/tracks.parquet, row groups of up to ROW_GROUP rows of one video (written to a .tmp name and renamed when complete)."""

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

    def add(self, record: Record, name: str) -> None:
        rows = table_rows(record)
        while True:
            columns = [array.array(code) if code else [] for code in _TYPECODES]
            appends = [c.append for c in columns]
            for row in itertools.islice(rows, ROW_GROUP):
                for append, value in zip(appends, row):
                    append(value)
            if not columns[0]:
                return
            data = {name: np.frombuffer(c, dtype=code) if code else c for name, c, code in zip(COLUMNS, columns, _TYPECODES)}
            self._writer.write_table(self._pa.table(data, schema=self._schema))

    def close(self) -> list[Path]:
        self._writer.close()
        os.replace(self._tmp, self.path)
        return [self.path]

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)
