"""`lang-sam-report` / `python -m lang_sam_tracker.report`: a static HTML overview of a results file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

from ..argtypes import accept_both_spellings, parse_results_tool_args, results_tool_parser

logger = logging.getLogger("lang_sam_tracker")


def build_parser() -> argparse.ArgumentParser:
    parser = results_tool_parser(
        "lang-sam-report",
        "Write a static HTML report of a results file (no server needed; open OUT/index.html in a browser): "
        "one row per video with counts and timings, each object's lifespan as a timeline bar, a thumbnail of each "
        "object cropped from the source video at its best frame, and the failures (RESULTS.failed.jsonl) with their reasons.",
        "Exit status: 0 written; 2 bad usage (no such results file).",
        "report folder (created if missing): index.html and thumbs/",
    )
    return accept_both_spellings(parser)


def write_report(results: Path, out: Path) -> Path:
    """Write `out`/index.html (and its thumbnails) for `results`; returns the page's path."""
    from .collect import collect
    from .page import render_page

    videos, failures = collect(results, out)
    page = out / "index.html"
    partial = out / ".index.html.partial"
    partial.write_text(render_page(results, videos, failures), encoding="utf-8")
    partial.replace(page)
    return page


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_results_tool_args(build_parser(), argv)
    if args is None:
        return 2
    page = write_report(args.results, args.out)
    logger.info("Report: %s (open it in a browser)", page)
    return 0
