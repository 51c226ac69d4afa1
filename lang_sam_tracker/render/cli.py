"""`lang-sam-render` / `python -m lang_sam_tracker.render`: annotated videos from a results file."""

from __future__ import annotations

import argparse
import logging
from typing import Sequence

from tqdm import tqdm

from ..argtypes import accept_both_spellings, parse_results_tool_args, results_tool_parser
from ..errors import TrackerError

logger = logging.getLogger("lang_sam_tracker")


def build_parser() -> argparse.ArgumentParser:
    parser = results_tool_parser(
        "lang-sam-render",
        "Draw annotated videos (H.264 MP4) from an existing results file: each object's mask when the run "
        "saved masks (--save_masks), else its box, with its label and id in the id's colour, as at tracking time. "
        "The source videos must still be where the records say.",
        "Videos are named as at tracking time (<stem>_<hash>.mp4, the hash of the video path and prompt). "
        "Exit status: 0 all rendered; 1 some videos could not be rendered (each said on one line); 2 bad usage.",
        "folder for the annotated videos (created if missing)",
    )
    parser.add_argument(
        "--videos", nargs="+", action="extend", default=None, metavar="VIDEO",
        help="render only these videos (as listed, absolute, or by file name or stem); default: every record",
    )
    return accept_both_spellings(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_results_tool_args(build_parser(), argv)
    if args is None:
        return 2
    from ..results.reader import iter_record_lines
    from .from_results import render_record, select

    lines = select(iter_record_lines(args.results), args.videos)
    if not lines:
        logger.error("error: %s holds no record%s", args.results, f" of {' '.join(args.videos)}" if args.videos else "")
        return 2
    failed = 0
    for line in tqdm(lines, desc="render", unit="video", disable=None):
        try:
            done = render_record(line, args.out)
        except (TrackerError, OSError, ValueError) as exc:
            failed += 1
            logger.error("✗ %s: %s", line.video_path, exc)
            continue
        logger.info("✓ %s -> %s (%d frames, %s)", done.video_path, done.output, done.frames, "masks" if done.masks else "boxes")
    return 1 if failed else 0
