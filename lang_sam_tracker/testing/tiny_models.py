"""Build every tiny random-weight model in its real format: ``python -m lang_sam_tracker.testing.tiny_models --out DIR``.

Weights are random, so outputs are meaningless; the point is to exercise the real architectures
and the real loading code without downloading anything.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .tiny_grounding_dino import build_tiny_hf_grounding_dino, build_tiny_original_grounding_dino
from .tiny_sam2 import build_tiny_sam2
from .tiny_sam3 import build_tiny_sam3, sam3_available


def build_all(out: Path) -> dict[str, Path]:
    """Write all tiny models under `out`; return what was written, by name (SAM 3 with transformers >= 5 only)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sam_yaml, sam_ckpt = build_tiny_sam2(out)
    hf_dir = build_tiny_hf_grounding_dino(out / "grounding_dino_tiny")
    gd_cfg, gd_ckpt = build_tiny_original_grounding_dino(out / "groundingdino_original")
    written = {
        "sam2_config": sam_yaml,
        "sam2_checkpoint": sam_ckpt,
        "grounding_dino_hf": hf_dir,
        "groundingdino_config": gd_cfg,
        "groundingdino_checkpoint": gd_ckpt,
    }
    if sam3_available():
        written["sam3"] = build_tiny_sam3(out / "sam3_tiny")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the tiny models into")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name, path in build_all(args.out).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
