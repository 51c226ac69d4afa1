"""What the detectors ask of transformers 4 and 5 alike: PIL image processors and quiet loading.

* Image processors: transformers 5 gives most of them two backends and defaults to torchvision,
  whose antialiased downscaling differs from PIL's by up to one grey level on some pixels;
  transformers 4 (and the models' training) used PIL. `processor_kwargs()` asks for the PIL
  backend on 5 (`backend="pil"`) and the slow, PIL-based processor on 4 (`use_fast=False`), so a
  processor computes the same pixels on both.
* Progress bars: transformers 5 draws a "Loading weights" bar per `from_pretrained` (one per
  worker process in a batch run); `quiet_progress()` turns transformers' and the hub's bars off
  for the duration of a load and restores the previous setting after it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


def transformers_major() -> int:
    import transformers

    return int(transformers.__version__.split(".")[0])


def processor_kwargs() -> dict[str, object]:
    """`AutoProcessor.from_pretrained` arguments selecting the PIL-based image processor."""
    return {"backend": "pil"} if transformers_major() >= 5 else {"use_fast": False}


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """transformers' (and huggingface_hub's) progress bars off inside the block."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
