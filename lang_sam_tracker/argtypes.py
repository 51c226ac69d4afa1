"""argparse value types that reject out-of-range numbers with a clear message."""

from __future__ import annotations

import argparse
from pathlib import Path


def _number(text: str, kind: type, ok, expectation: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {expectation}, got {text}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, ">= 1")


def non_negative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, ">= 0")


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0, "> 0")


def unit_float(text: str) -> float:
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "between 0 and 1")


def iou_fraction(text: str) -> float:
    return _number(text, float, lambda v: 0.0 < v <= 1.0, "in (0, 1]")


def non_negative_float(text: str) -> float:
    return _number(text, float, lambda v: v >= 0, ">= 0")


def accept_both_spellings(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Let every `--snake_case` flag also be typed `--kebab-case` (and the other way round).

    `--help` keeps the one spelling each flag was declared with: the other is registered with the
    parser's lookup only. Call after every argument is added; pair it with `allow_abbrev=False`, so
    `--save_mask` is refused instead of silently taken for `--save_masks`.
    """
    lookup = parser._option_string_actions  # argparse keeps no public hook for aliases
    for option, action in list(lookup.items()):
        if not option.startswith("--"):
            continue
        for other in ("--" + option[2:].replace("_", "-"), "--" + option[2:].replace("-", "_")):
            if not (isinstance(action, argparse.BooleanOptionalAction) and option.startswith("--no-") and other != option):
                lookup.setdefault(other, action)  # (BooleanOptionalAction reads the "--no-" prefix itself)
    return parser


def results_tool_parser(prog: str, description: str, epilog: str, out_help: str) -> argparse.ArgumentParser:
    """The parser the tools that read a results file share: RESULTS, --out, --log_level; no
    abbreviations; both spellings (finish it with `accept_both_spellings` after adding flags)."""
    parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False, description=description, epilog=epilog)
    parser.add_argument("results", type=Path, help="results file written by lang-sam-track (JSONL)")
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging verbosity")
    return parser


def parse_results_tool_args(parser: argparse.ArgumentParser, argv) -> argparse.Namespace | None:
    """Parse a results tool's flags and set up its logging; None (the error said) when RESULTS is no file."""
    import logging
    import sys

    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(message)s", stream=sys.stderr)
    if not args.results.is_file():
        logging.getLogger("lang_sam_tracker").error("error: %s: no such results file", args.results)
        return None
    return args
