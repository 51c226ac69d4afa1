"""Propagation of every live SAM 2 object in one forward per frame, whatever frame it was born on.

sam2 1.1.0 runs `track_step` once per object (batch 1). Its memory attention, mask decoder and
memory encoder all take a batch dimension; what stops objects from sharing a forward is that each
attends to its own memories. An object's conditioning frames (its birth frame, re-anchorings), the
up to num_maskmem-1 spatial memories of the frames before, and the object pointers of the last
max_obj_ptrs-1 frames differ in number and in temporal distance from object to object: objects
born on different frames never share a memory layout (the birth frame stays a conditioning frame
for life), and an object younger than the memory windows has fewer memories than an older one.

**The choice: padding and a key mask, in fixed-capacity buckets.** Each object selects its
memories exactly as sam2 does; the batch lays them out as sam2 would for that object (conditioning
frames, then spatial memories, then pointers, each with its own temporal position encoding) and
pads each object's spatial memories and pointers to the bucket's largest count with zeros that the
cross-attention masks out (`sam2_batched_memory`). Masked keys get exactly zero weight, so each
object's result is its own forward's up to floating-point summation order. The alternatives:

* grouping objects by identical layout (what this module did before) is exact too, but objects
  born on different frames never group, so staggered births fell back to near one forward each;
* per-item position encodings alone (which the padded batch has too: each object's t_pos
  embeddings and pointer distances are its own) leave the key counts unequal; without padding
  that needs a ragged (nested-tensor) attention, which neither sam2's RoPE nor its modules
  support, while padding gets the same result with dense kernels;
* the padding costs attention over zeros: objects are sorted by memory count before they are cut
  into buckets, so objects of like age share a bucket, and in steady state (every object older
  than the 16-frame pointer window, conditioning frames capped by ``max_cond_frames``) the layouts
  differ only in the number of conditioning frames. Measured (benchmarks/feed_bench.py row 2,
  tiny model, CPU, one thread): 32 objects born over 8 frames cost 1.06x the same 32 born on one
  frame, and 0.33x one forward per object.

Buckets hold at most ``capacity`` objects (`DEFAULT_CAPACITY`): the padded memories of one bucket
exist only during its forward and hold at most capacity times the memories of the bucket's
largest object (with the default ``max_cond_frames``: 4 conditioning frames + num_maskmem - 1
spatial memories and the pointer window), a bounded multiple of one object's state however many
objects a frame has. The outputs are sliced back per object (views of the bucket's tensors, evicted
together with their frame), so the state stays sam2's own per-object state and every other method
(prompts, corrections, removal, eviction) is unchanged. A bucket of one object runs sam2's own
batch-1 path.

**Numerics.** Not bit-identical to one forward per object (batched matmuls and the masked
attention sum in another order). On CPU float32 the logits differ by about 1e-6 at most per object
(1.4e-6 over 120 frames with births on 8 frames, removals and re-prompts, bounded at 1e-4 in
tests/segmenters/test_sam2_batched.py). Under bfloat16 autocast (CUDA, as `StreamingSAM2` runs)
every matmul rounds to 8 mantissa bits, so the batched and the per-object path differ as two
bfloat16 runs with different kernels do, compounded through each object's memory. Measured on the
tiny random model under CPU bfloat16 autocast (60 frames of the test's script, logits of median
magnitude 0.06, i.e. most pixels near the decision boundary): batched vs per-object max |logit
difference| 0.37, mean mask IoU 0.991; for scale, bfloat16 against float32 on the per-object path
itself: 0.56 and 0.85. Expect the same on CUDA: batching moves bfloat16 results less than
bfloat16 moves float32 ones, and a trained model's confident logits turn that into disagreement
at mask boundaries only. ``--sam2_exact`` runs one forward per object in sam2's own code,
bit-identical to sam2's predictor.
"""

from __future__ import annotations

from typing import Any

import torch

from .sam2_batched_memory import ObjectBatch

Output = dict[str, Any]

# Objects per forward: bounds the padded memories one forward holds (see the module docstring).
DEFAULT_CAPACITY = 32


def memory_count(outputs: dict[str, dict[int, Output]]) -> tuple[int, int]:
    """How many memories an object has (conditioning frames, full memories, pointers): sort key."""
    non_cond = outputs["non_cond_frame_outputs"].values()
    return len(outputs["cond_frame_outputs"]), sum("maskmem_features" in out for out in non_cond), len(non_cond)


def buckets(state: dict, obj_indices: list[int], capacity: int) -> list[list[int]]:
    """`obj_indices` cut into batches of at most `capacity`, objects of like memory counts together."""
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    ordered = sorted(obj_indices, key=lambda i: memory_count(state["output_dict_per_obj"][i]))
    n_buckets = -(-len(ordered) // capacity)
    size = -(-len(ordered) // max(n_buckets, 1))  # even sizes: 40 objects at 32 run as 20 + 20
    return [ordered[k : k + size] for k in range(0, len(ordered), size)]


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


def propagate_batched(
    predictor, state: dict, t: int, obj_indices: list[int], capacity: int = DEFAULT_CAPACITY
) -> dict[int, tuple[Output, torch.Tensor]]:
    """`_run_single_frame_inference` for each object in `obj_indices` on frame `t` (a tracked, not a
    prompted frame), in buckets of at most `capacity`; returns {obj_idx: (compact output, pred_masks)}."""
    if predictor.non_overlap_masks_for_mem_enc:
        capacity = 1  # that constraint acts across the batch: batching would change the memories
    results: dict[int, tuple[Output, torch.Tensor]] = {}
    for members in buckets(state, obj_indices, capacity):
        per_obj = [state["output_dict_per_obj"][i] for i in members]
        current, pred_masks = predictor._run_single_frame_inference(
            inference_state=state,
            output_dict=per_obj[0] if len(members) == 1 else ObjectBatch(per_obj),
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
