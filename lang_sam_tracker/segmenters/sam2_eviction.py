"""What streaming SAM 2 may forget: the eviction policy, per object, and what it leaves behind.

SAM 2 tracking frame n reads (../shared/design/sam2-streaming.md §2, §3.4): its object's
conditioning frames (all, or the K = max_cond_frames_in_attn most recent); full memories of the
num_maskmem-1 previous frames (stride r); object pointers of the max_obj_ptrs-1 previous frames.
`evict` drops everything else, so the state stays flat however long the video.
"""

from __future__ import annotations

from typing import Any

State = dict[str, Any]


def evict(model, state: State, n: int, max_frames: int | None, max_cond_frames: int | None) -> None:
    """Drop what no frame >= n can read, per object; `model` is the SAM2Base whose windows apply.

    Entries only in the pointer window are stripped to the pointer. With a `max_frames` horizon,
    conditioning frames older than n - max_frames (except the object's latest) are demoted to
    ordinary memories, exactly as SAM 2 treats unselected conditioning frames, and so leave with
    the windows; with a `max_cond_frames` cap, only each object's most recent conditioning frames
    stay such. Past images are the caller's; past prompts and tracked-frame marks go here.
    """
    r = model.memory_temporal_stride_for_eval
    lo_spatial = ((n - 2) // r) * r - (model.num_maskmem - 3) * r
    if model.use_obj_ptrs_in_encoder:
        lo_pointer = n - (min(state["num_frames"], model.max_obj_ptrs_in_encoder) - 1)
    else:
        lo_pointer = n
    keep_from = min(lo_spatial, lo_pointer)
    k = model.max_cond_frames_in_attn
    for obj_idx, outputs in state["output_dict_per_obj"].items():
        cond, non_cond = outputs["cond_frame_outputs"], outputs["non_cond_frame_outputs"]
        if max_frames and cond:
            latest = max(cond)
            for f in [f for f in cond if f < n - max_frames and f != latest]:
                non_cond[f] = cond.pop(f)
        if max_cond_frames and len(cond) > max_cond_frames:
            for f in sorted(cond)[:-max_cond_frames]:
                non_cond[f] = cond.pop(f)
        if k != -1 and len(cond) > k:
            recent = set(sorted(cond)[-k:])
            for f in [f for f in cond if f not in recent and f < keep_from]:
                del cond[f]
        for f in list(non_cond):
            if f < keep_from:
                del non_cond[f]
            elif (f < lo_spatial or (f % r and f < n - 1)) and "maskmem_features" in non_cond[f]:
                out = non_cond[f]
                non_cond[f] = {"obj_ptr": out["obj_ptr"], "object_score_logits": out["object_score_logits"]}
        for per_frame in (
            state["frames_tracked_per_obj"][obj_idx],
            state["point_inputs_per_obj"][obj_idx],
            state["mask_inputs_per_obj"][obj_idx],
        ):
            for f in [f for f in per_frame if f < n]:
                del per_frame[f]


def state_stats(state: State) -> dict[str, int]:
    """How many per-frame entries the state retains (constant on long streams)."""
    outputs = list(state["output_dict_per_obj"].values())
    non_cond = [out for o in outputs for out in o["non_cond_frame_outputs"].values()]
    full = sum("maskmem_features" in out for out in non_cond)
    return {
        "frames_processed": state["stream"].t + 1,
        "objects": len(state["obj_ids"]),
        "images": len(state["images"]),
        "cached_features": len(state["cached_features"]),
        "cond": sum(len(o["cond_frame_outputs"]) for o in outputs),
        "non_cond_full": full,
        "pointer_only": len(non_cond) - full,
        "frames_tracked": sum(len(v) for v in state["frames_tracked_per_obj"].values()),
        "prompts": sum(len(v) for v in state["point_inputs_per_obj"].values())
        + sum(len(v) for v in state["mask_inputs_per_obj"].values()),
        "temp_outputs": sum(
            len(o["cond_frame_outputs"]) + len(o["non_cond_frame_outputs"])
            for o in state["temp_output_dict_per_obj"].values()
        ),
    }
