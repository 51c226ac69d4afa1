"""Propagation of many SAM 2 objects as batches: one memory attention, mask decoder and memory
encoder forward for every group of objects whose memory layouts match.

sam2 1.1.0 runs `track_step` once per object (batch 1). Its modules take a batch dimension, and the
legacy predictor ran all objects as one batch; what decides whether objects can share a forward is
their memory layout: the same conditioning frames and the same non-conditioning frames, each full
(with a spatial memory) or pointer-only, so that memory attention reads the same number of tokens
at the same temporal positions for each. Objects prompted on the same frame keep one layout for
the rest of the video. The outputs are sliced back per object, so the state stays sam2's own
per-object state and every other method (prompts, corrections, removal, eviction) is unchanged.

Not bit-identical to the per-object path (batched matmuls reduce in another order); on CPU float32
the logits differ by ~1e-7 (tests/segmenters/test_sam2_batched.py bounds it at 1e-4).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch

Output = dict[str, Any]


def layout_key(outputs: dict[str, dict[int, Output]]) -> tuple:
    """What must match for objects to share a forward: frame keys, and which memories are full."""
    cond = tuple(sorted(outputs["cond_frame_outputs"]))
    non_cond = tuple(sorted((f, "maskmem_features" in out) for f, out in outputs["non_cond_frame_outputs"].items()))
    return cond, non_cond


def _stack(outs: list[Output]) -> Output:
    """One output of batch len(outs) from per-object outputs of the same keys."""
    merged: Output = {}
    for key, first in outs[0].items():
        if first is None:
            merged[key] = None
        elif key == "maskmem_pos_enc":
            merged[key] = [torch.cat(level) for level in zip(*(o[key] for o in outs))]
        else:
            merged[key] = torch.cat([o[key] for o in outs])
    return merged


def _slice(out: Output, i: int) -> Output:
    """Object `i` of a batched output, as a batch-1 output (views: nothing is copied)."""
    sliced: Output = {}
    for key, value in out.items():
        if value is None:
            sliced[key] = None
        elif isinstance(value, list):
            sliced[key] = [v[i : i + 1] for v in value]
        else:
            sliced[key] = value[i : i + 1]
    return sliced


def propagate_batched(predictor, state: dict, t: int, obj_indices: list[int]) -> dict[int, tuple[Output, torch.Tensor]]:
    """`_run_single_frame_inference` for each object in `obj_indices` on frame `t` (a tracked, not a
    prompted frame), batched by memory layout; returns {obj_idx: (compact output, pred_masks)}."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for obj_idx in obj_indices:
        groups[layout_key(state["output_dict_per_obj"][obj_idx])].append(obj_idx)
    results: dict[int, tuple[Output, torch.Tensor]] = {}
    for members in groups.values():
        per_obj = [state["output_dict_per_obj"][i] for i in members]
        if len(members) == 1:
            output_dict = per_obj[0]
        else:
            output_dict = {
                kind: {f: _stack([o[kind][f] for o in per_obj]) for f in per_obj[0][kind]}
                for kind in ("cond_frame_outputs", "non_cond_frame_outputs")
            }
        current, pred_masks = predictor._run_single_frame_inference(
            inference_state=state,
            output_dict=output_dict,
            frame_idx=t,
            batch_size=len(members),
            is_init_cond_frame=False,
            point_inputs=None,
            mask_inputs=None,
            reverse=False,
            run_mem_encoder=True,
        )
        for i, obj_idx in enumerate(members):
            results[obj_idx] = (_slice(current, i), pred_masks[i : i + 1])
    return results
