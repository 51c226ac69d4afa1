"""Edits of a transformers `Sam3TrackerVideoInferenceSession` that the model itself does not offer:
pruning what no later frame can read, removing an object, and measuring what the session holds.

What `Sam3TrackerVideoModel` reads when it tracks frame n (transformers 5, forward in time):
- the frame's own pixels and vision features (the session caches one frame's features);
- per object, the spatial memories (``maskmem_features``, ``maskmem_pos_enc``) of its
  ``max_cond_frame_num`` conditioning frames closest to n (for a stream: the most recent ones),
  and of frames n-1 .. n-(num_maskmem-1), conditioning or not;
- the object pointers (``object_pointer``) of every conditioning frame <= n and of the frames
  n-1 .. n-(max_object_pointers_in_encoder-1);
- prompts (points, masks) and the "tracked" marks of frame n only.
Predicted masks, high-resolution masks and scores of past frames are never read again. Pruning
keeps exactly the rest, so outputs are those of the unpruned session, bit for bit, and the state
stays flat however long the video: per object, at most num_maskmem-1 spatial memories, about
max_object_pointers_in_encoder pointers, and its conditioning frames (one per box prompt that
started or durably re-anchored it; pointer-only beyond the most recent max_cond_frame_num).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

import torch

MEMORY_KEYS = ("maskmem_features", "maskmem_pos_enc")
POINTER_KEY = "object_pointer"


def prune(session: Any, config: Any, n: int) -> None:
    """Drop from `session` everything no frame >= n can read (see the module docstring)."""
    lo_memory = n - (config.num_maskmem - 1)
    lo_pointer = n - (config.max_object_pointers_in_encoder - 1)
    keep_from = min(lo_memory, lo_pointer)
    k = config.max_cond_frame_num
    for obj_idx, outputs in session.output_dict_per_obj.items():
        cond, non_cond = outputs["cond_frame_outputs"], outputs["non_cond_frame_outputs"]
        selectable = set(cond) if k == -1 else set(sorted(cond)[-k:])
        for f in [f for f in cond if f < n]:
            with_memory = f in selectable or f >= lo_memory
            cond[f] = _only(cond[f], with_memory)
        for f in list(non_cond):
            if f < keep_from:
                del non_cond[f]
            elif f < n:
                non_cond[f] = _only(non_cond[f], f >= lo_memory)
        for per_frame in (
            session.frames_tracked_per_obj[obj_idx],
            session.point_inputs_per_obj[obj_idx],
            session.mask_inputs_per_obj[obj_idx],
        ):
            for f in [f for f in per_frame if f < n]:
                del per_frame[f]
    if session.processed_frames is not None:
        for f in [f for f in session.processed_frames if f < n]:
            del session.processed_frames[f]


def _only(output: dict, with_memory: bool) -> dict:
    keys = (POINTER_KEY, *MEMORY_KEYS) if with_memory else (POINTER_KEY,)
    return {key: output[key] for key in keys if key in output}


def remove_object(session: Any, obj_id: int) -> bool:
    """Forget `obj_id` and renumber the others' indices (transformers has no removal); False if unknown.

    Each object's inference reads only its own entries, so the others continue exactly as before.
    """
    if obj_id not in session._obj_id_to_idx:
        return False
    gone = session._obj_id_to_idx[obj_id]
    remaining = [i for i in session.obj_ids if i != obj_id]
    old_index = {i: session._obj_id_to_idx[i] for i in remaining}
    for name in ("point_inputs_per_obj", "mask_inputs_per_obj", "output_dict_per_obj", "frames_tracked_per_obj"):
        per_obj = getattr(session, name)
        per_obj.pop(gone, None)
        renumbered = {new: per_obj[old_index[i]] for new, i in enumerate(remaining)}
        per_obj.clear()
        per_obj.update(renumbered)
    session._obj_id_to_idx.clear()
    session._obj_id_to_idx.update(OrderedDict((i, new) for new, i in enumerate(remaining)))
    session._obj_idx_to_id.clear()
    session._obj_idx_to_id.update(OrderedDict((new, i) for new, i in enumerate(remaining)))
    session.obj_ids = remaining
    session.obj_with_new_inputs = [i for i in session.obj_with_new_inputs if i != obj_id]
    return True


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def session_stats(session: Any) -> dict[str, int]:
    """Tensors the session holds and their bytes, with the per-frame entries behind them."""
    held = [
        session.processed_frames or {},
        session.cache._vision_features,
        session.output_dict_per_obj,
        session.point_inputs_per_obj,
        session.mask_inputs_per_obj,
    ]
    seen: dict[int, torch.Tensor] = {}
    for part in held:
        for tensor in _tensors(part):
            seen[id(tensor)] = tensor
    outputs = session.output_dict_per_obj.values()
    return {
        "objects": len(session.obj_ids),
        "tensors": len(seen),
        "bytes": sum(t.numel() * t.element_size() for t in seen.values()),
        "frames": len(session.processed_frames or {}),
        "cached_features": len(session.cache._vision_features),
        "cond": sum(len(o["cond_frame_outputs"]) for o in outputs),
        "non_cond": sum(len(o["non_cond_frame_outputs"]) for o in outputs),
        "frames_tracked": sum(len(v) for v in session.frames_tracked_per_obj.values()),
        "prompts": sum(len(v) for v in session.point_inputs_per_obj.values())
        + sum(len(v) for v in session.mask_inputs_per_obj.values()),
    }
