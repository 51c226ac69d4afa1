"""`python -m lang_sam_tracker.evaluate`: the report on stdout, optionally as CSV or JSON."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import unicodedata
from pathlib import Path
from typing import Sequence

from ..errors import one_line
from ..export.source import ExportError
from .gt import MOT_DISTRACTORS, read_seq_map
from .metrics import COUNTS, HOTA_FIELDS, MOTMETRICS
from .score import Options, Report, evaluate, parse_class_map, parse_classes
from ..argtypes import accept_both_spellings

COLUMNS = ("video", "sequence", "class", "frames", *HOTA_FIELDS, *(c for c, _ in MOTMETRICS))


def text_width(text: str) -> int:
    """Columns `text` takes in a terminal: wide (CJK) and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 0 if unicodedata.combining(ch) else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - text_width(text))
    return fill + text if right else text + fill


def in_units(rows: list[dict], percent: bool) -> list[dict]:
    """The rows with every score as a percentage (MOTChallenge, TrackEval), or as a fraction."""
    if not percent:
        return rows
    return [{k: (100.0 * v if k not in COUNTS and isinstance(v, float) else v) for k, v in row.items()} for row in rows]


def format_table(report: Report, percent: bool = True) -> str:
    """The report as aligned text: one line per video and class, then OVERALL; scores as
    percentages (one decimal) or fractions (three), counts as integers."""
    def cell(column: str, value) -> str:
        if column in COUNTS:
            return str(int(value))
        if isinstance(value, float):
            return f"{value:.1f}" if percent else f"{value:.3f}"
        return str(value)

    table = [list(COLUMNS)] + [[cell(c, row[c]) for c in COLUMNS] for row in in_units(report.rows, percent)]
    widths = [max(text_width(r[i]) for r in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(_pad(v, w, right=i >= 3) for i, (v, w) in enumerate(zip(r, widths))).rstrip() for r in table)


def write_report(report: Report, path: Path, percent: bool = True) -> None:
    """CSV (one row per line of the table) or JSON (a list of rows), by the file's extension; scores
    in the table's units."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = in_units(report.rows, percent)
    if path.suffix.lower() == ".json":
        units = "percent" if percent else "fraction"
        path.write_text(json.dumps({"units": units, "rows": rows, "problems": report.problems}, indent=1) + "\n", encoding="utf-8")
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m lang_sam_tracker.evaluate",
        description="Score a results file against MOTChallenge-format ground truth: HOTA, DetA, AssA, LocA (TrackEval) and "
        "IDF1, MOTA, MOTP, ID switches, FP, FN, mostly tracked / mostly lost objects (MT, ML) and fragmentations (Frag) "
        "(motmetrics), per video and overall; scores in percent unless --fractions. Only the processed frames are scored "
        "(ground-truth frame = frame_idx + --gt_first_frame).",
        epilog="Exit status: 0 every video scored; 1 some videos had no ground truth (or a sequence was matched twice): "
        "the others are scored and reported, each problem on one line; 2 bad input, nothing scored. "
        "Needs the [eval] extra: pip install 'lang-sam-tracker[eval]'.",
    )
    parser.add_argument("results", type=Path, help="results file written by lang-sam-track (JSONL)")
    parser.add_argument("--gt", type=Path, required=True, help="ground-truth folder: GT/<sequence>/gt/gt.txt (MOT17, DanceTrack) or GT/<sequence>.txt")
    parser.add_argument("--gt_format", choices=["mot"], default="mot", help="ground-truth format: MOTChallenge txt (frame,id,x,y,w,h,consider,class,visibility)")
    parser.add_argument("--seq_map", type=Path, default=None, help="file of 'VIDEO,SEQUENCE' lines (VIDEO = video_path or file stem) for videos not named like their sequence")
    parser.add_argument(
        "--class_map", action="append", default=None, metavar="LABEL=ID[,ID]",
        help="score predictions of prompt LABEL against ground-truth class ids (repeatable, each scored separately; '*' = any label). "
        "Default '*=1' (MOTChallenge pedestrians). Rows without a class column count in every class",
    )
    parser.add_argument(
        "--distractor_classes", default=",".join(map(str, MOT_DISTRACTORS)),
        help="ground-truth classes whose matched predictions are dropped rather than counted as false positives "
        "(MOTChallenge: 2,7,8,12, the default); 'none' to keep all",
    )
    parser.add_argument("--gt_first_frame", type=int, choices=[0, 1], default=1, help="number of the first frame in the ground truth (MOTChallenge: 1)")
    parser.add_argument("--gt_box_origin", type=int, choices=[0, 1], default=1, help="pixel coordinate of the left/top image edge in the ground-truth boxes (MOTChallenge: 1; 0 for 0-based annotations)")
    parser.add_argument("--text_prompt", default=None, help="score only records of this prompt (when the results hold several prompts per video)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this .csv or .json file")
    parser.add_argument(
        "--fractions", action="store_true",
        help="scores (HOTA, MOTA, MOTP, IDF1, ...) as fractions 0-1 instead of percentages (the default, as MOTChallenge "
        "and TrackEval print them), in the table and in --out",
    )
    parser.add_argument("--log_level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging verbosity")
    return accept_both_spellings(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s: %(message)s")
    try:
        options = Options(
            gt_dir=args.gt,
            seq_map=read_seq_map(args.seq_map) if args.seq_map else {},
            classes=parse_class_map(args.class_map),
            distractors=parse_classes(args.distractor_classes),
            gt_first_frame=args.gt_first_frame,
            gt_box_origin=args.gt_box_origin,
            text_prompt=args.text_prompt,
        )
        report = evaluate(args.results, options)
    except (ExportError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(f"error: {one_line(problem)}", file=sys.stderr)
    if not report.rows:
        print(f"error: {args.results}: no video could be scored against {args.gt}", file=sys.stderr)
        return report.exit_code
    print(format_table(report, percent=not args.fractions))
    if args.out is not None:
        write_report(report, args.out, percent=not args.fractions)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
