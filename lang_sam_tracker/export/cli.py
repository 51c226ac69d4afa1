"""`python -m lang_sam_tracker.export`: one pass over a results file, writing every requested format."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Protocol, Sequence

from tqdm import tqdm

from ..errors import one_line
from .mot import NUMBERINGS, MotExporter
from .source import MALFORMED, ExportError, Record, SequenceNames, iter_records, malformed
from ..argtypes import accept_both_spellings

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_USAGE = 0, 2
FORMATS = ("mot", "csv", "parquet", "ytvis", "summary")


class Exporter(Protocol):
    def add(self, record: Record, name: str) -> None: ...
    def close(self) -> list[Path]: ...
    def abort(self) -> None: ...


def _make(fmt: str, out_dir: Path, args: argparse.Namespace) -> Exporter:
    if fmt == "mot":
        return MotExporter(out_dir, args.mot_frames)
    if fmt == "csv":
        from .table import CsvExporter

        return CsvExporter(out_dir)
    if fmt == "parquet":
        from .table import ParquetExporter

        return ParquetExporter(out_dir)
    if fmt == "ytvis":
        from .ytvis import YtvisExporter

        return YtvisExporter(out_dir, args.ytvis_rle)
    from .summary import SummaryExporter

    return SummaryExporter(out_dir)


def export(results: Path, formats: Sequence[str], out_dir: Path, args: argparse.Namespace) -> tuple[int, list[Path]]:
    """Convert every record of `results` into each format; returns (videos, files written).

    On an error nothing half-written is left under its final name (MOT files of videos already done stay).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    exporters: list[Exporter] = []
    try:
        for fmt in dict.fromkeys(formats):
            exporters.append(_make(fmt, out_dir, args))
        names = SequenceNames()
        count = 0
        for record in tqdm(iter_records(results), desc="export", unit="video", disable=None):
            name = names.name(record)
            try:
                for exporter in exporters:
                    exporter.add(record, name)  # each exporter streams the record's frames again
            except MALFORMED as exc:
                raise malformed(record.video_path, exc) from exc
            count += 1
    except BaseException:
        for exporter in exporters:
            exporter.abort()
        raise
    written: list[Path] = []
    for exporter in exporters:
        written += exporter.close()
    return count, written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m lang_sam_tracker.export",
        description="Convert a results file (--group_by frame or object, or --sidecar records) into MOTChallenge txt, CSV/Parquet, "
        "YouTube-VIS JSON or a per-object summary. Reads one frame at a time, so memory stays flat for any file or record size "
        "(ytvis holds one video's masks).",
        epilog="Outputs in --out: mot: <video>.txt and <video>/seqinfo.ini per video; csv: tracks.csv; parquet: tracks.parquet; "
        "ytvis: ytvis.json; summary: summary_videos.csv and summary_objects.csv. Videos are named by their file stem "
        "(-2, -3, ... added when a stem repeats). Exit status: 0 done; 2 bad input (nothing half-written is left).",
    )
    parser.add_argument("results", type=Path, help="results file written by lang-sam-track (JSONL, one record per video)")
    parser.add_argument(
        "--format", nargs="+", action="extend", choices=FORMATS, required=True,
        help="one or more output formats, written in one pass (repeatable: --format mot --format csv writes both)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument(
        "--mot_frames", choices=NUMBERINGS, default="source",
        help="MOT frame numbers: 'source' = frame_idx + 1, lining up with ground truth on every source frame (default); "
        "'processed' = 1, 2, ... over the processed frames",
    )
    parser.add_argument(
        "--ytvis_rle", choices=["uncompressed", "compressed"], default="uncompressed",
        help="ytvis segmentations as uncompressed RLE (run-length lists, as YouTube-VIS annotations; read by every tool) "
        "or compressed COCO RLE strings (smaller, as VIS results files)",
    )
    parser.add_argument("--log_level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging verbosity")
    return accept_both_spellings(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s: %(message)s")
    try:
        count, written = export(args.results, args.format, args.out, args)
    except (ExportError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Exported {count} video(s) from {args.results} into {args.out}: {len(written)} file(s)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
