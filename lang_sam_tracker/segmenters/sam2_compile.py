"""`torch.compile` for SAM 2's modules (`--compile`), as sam2's own `vos_optimized` predictor does.

The image encoder sees one fixed shape (1, 3, S, S) and is compiled with a static shape. Memory
attention, memory encoder, prompt encoder and mask decoder see a batch dimension that changes with
the objects batched together (and memory attention a number of memories that grows during the
first frames), so they are compiled with dynamic shapes, as is the key-masked memory attention that runs objects
with different memories as one batch (`SAM2StreamingPredictor._attend_batched`, see
`sam2_batched`). Compilation is lazy: the first frames of
the first video pay for it. Meant for GPUs; on a CPU it needs a C++ compiler and rarely pays off.
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)

# module attribute of a SAM2Base -> whether its input shapes change from call to call
COMPILED_MODULES = {
    "image_encoder": False,
    "memory_attention": True,
    "memory_encoder": True,
    "sam_prompt_encoder": True,
    "sam_mask_decoder": True,
}
# the predictor's memory attention over a padded batch of objects (dynamic: batch and memory sizes)
BATCHED_ATTENTION = "_attend_batched"


def compile_sam2(predictor: torch.nn.Module, mode: str = "max-autotune-no-cudagraphs") -> torch.nn.Module:
    """Replace each module's `forward` with a compiled one (in place); returns `predictor`."""
    for name, dynamic in COMPILED_MODULES.items():
        module = getattr(predictor, name)
        module.forward = torch.compile(module.forward, mode=mode, dynamic=dynamic, fullgraph=False)
    if hasattr(predictor, BATCHED_ATTENTION):
        compiled = torch.compile(getattr(predictor, BATCHED_ATTENTION), mode=mode, dynamic=True, fullgraph=False)
        setattr(predictor, BATCHED_ATTENTION, compiled)
    logger.info("SAM 2 modules compiled lazily (%s): %s", mode, ", ".join(COMPILED_MODULES))
    return predictor
