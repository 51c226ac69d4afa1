"""Every override of a private sam2 method, in one place, checked against the sam2 it was written for.

`SAM2StreamingPredictor` otherwise calls sam2's public and semi-public methods unchanged. What it
overrides here depends on the bodies of private methods (`_consolidate_temp_output_across_obj`,
`_get_orig_video_res_output`, `_prepare_memory_conditioned_features`, and through
`sam2_batched_memory` the memory-attention modules) as they are in sam2 1.1.0 (the PyPI upload of
facebookresearch/sam2 at commit 2b90b9f, see ../shared/design/sam2-streaming.md §0). Importing
this module compares the installed version with that one and warns, naming both, when they
differ: the overrides may then no longer match what they replace, and `tests/segmenters/` is the
check to run.
"""

from __future__ import annotations

import warnings
from importlib import metadata

import torch

from .sam2_batched_memory import ObjectBatch, batched_memory_conditioned_features, masked_memory_attention

SAM2_VERSION_WRITTEN_AGAINST = "1.1.0"


def installed_sam2_version() -> str | None:
    try:
        return metadata.version("sam2")
    except metadata.PackageNotFoundError:  # a source checkout on sys.path
        return None


def check_sam2_version(installed: str | None = None) -> bool:
    """True when the installed sam2 is the one these overrides were written against; warns otherwise."""
    installed = installed_sam2_version() if installed is None else installed
    if installed == SAM2_VERSION_WRITTEN_AGAINST:
        return True
    warnings.warn(
        f"lang_sam_tracker's streaming SAM 2 overrides private methods of sam2 {SAM2_VERSION_WRITTEN_AGAINST}, "
        f"but sam2 {installed or '(version unknown: not installed as a package)'} is installed; "
        f"results may differ from sam2's own predictor (pin sam2=={SAM2_VERSION_WRITTEN_AGAINST})",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


check_sam2_version()

# Stands for a consolidated video-resolution output nobody reads (see `Sam2Overrides`).
DEFERRED = object()


class Sam2Overrides:
    """Mixed into `SAM2StreamingPredictor` before sam2's `SAM2VideoPredictor` (its `super()`)."""

    def _consolidate_temp_output_across_obj(self, inference_state, frame_idx, is_cond, consolidate_at_video_res=False):
        """sam2's consolidation, skipped for the video-resolution copy `add_new_points_or_box` makes
        for its return value while the stream defers it (`add_boxes`: that output is never read)."""
        stream = inference_state.get("stream")
        if consolidate_at_video_res and stream is not None and stream.defer_consolidation:
            return {"pred_masks_video_res": DEFERRED}
        return super()._consolidate_temp_output_across_obj(
            inference_state, frame_idx, is_cond, consolidate_at_video_res=consolidate_at_video_res
        )

    def _get_orig_video_res_output(self, inference_state, any_res_masks):
        if any_res_masks is DEFERRED:
            return DEFERRED, DEFERRED
        return super()._get_orig_video_res_output(inference_state, any_res_masks)

    def _prepare_memory_conditioned_features(
        self,
        frame_idx,
        is_init_cond_frame,
        current_vision_feats,
        current_vision_pos_embeds,
        feat_sizes,
        output_dict,
        num_frames,
        track_in_reverse=False,
    ):
        """sam2's own, or for an `ObjectBatch` (objects with different memories in one forward,
        see `sam2_batched`) the padded, key-masked batch of `sam2_batched_memory`."""
        if not isinstance(output_dict, ObjectBatch):
            return super()._prepare_memory_conditioned_features(
                frame_idx, is_init_cond_frame, current_vision_feats, current_vision_pos_embeds, feat_sizes,
                output_dict, num_frames, track_in_reverse=track_in_reverse,
            )
        if is_init_cond_frame or track_in_reverse or self.training or self.num_maskmem == 0:
            raise ValueError("an ObjectBatch is for tracked frames, forward in time, in eval mode")
        return batched_memory_conditioned_features(
            self, frame_idx, current_vision_feats, current_vision_pos_embeds, feat_sizes, output_dict, num_frames
        )

    def _attend_batched(self, *inputs: torch.Tensor | int | None) -> torch.Tensor:
        """Memory attention of a padded batch: `masked_memory_attention` with this model's module
        (a method of its own, so that `sam2_compile` compiles it too)."""
        return masked_memory_attention(self.memory_attention, *inputs)
