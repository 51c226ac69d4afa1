"""Which models make the pipeline: `--tracker` and the `--pipeline` shorthand."""

from __future__ import annotations

import argparse

from ..settings import SEGMENTERS

# --pipeline NAME -> (detector backend, tracker)
PIPELINES = {"sam3": ("sam3", "sam3")}


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --tracker and --pipeline (a "pipeline" argument group)."""
    group = parser.add_argument_group("pipeline (see README: choosing a pipeline)")
    group.add_argument(
        "--tracker",
        choices=SEGMENTERS,
        default="sam2",
        help="what segments and tracks each object: sam2 (SAM 2, --sam_type/--model_path; default) or sam3 "
        "(SAM 3's tracker from --sam3_model, transformers >= 5)",
    )
    group.add_argument(
        "--pipeline",
        choices=sorted(PIPELINES),
        default=None,
        help="shorthand: sam3 = --detector_backend sam3 --tracker sam3 (SAM 3 alone, from --sam3_model); "
        "it overrides those two flags",
    )


def apply_pipeline(args: argparse.Namespace) -> argparse.Namespace:
    """Expand --pipeline into --detector_backend and --tracker (in place; returns `args`)."""
    if args.pipeline is not None:
        args.detector_backend, args.tracker = PIPELINES[args.pipeline]
    return args
