"""The streaming SAM 2 predictor: sam2's own `SAM2VideoPredictor`, fed one frame at a time.

`SAM2StreamingPredictor` is a thin subclass (build it with `checkpoints.build_sam2_streaming`). It
keeps the official ``inference_state`` dict and calls the official methods
(`add_new_points_or_box`, `remove_object`, `propagate_in_video_preflight`,
`_run_single_frame_inference`, `_get_orig_video_res_output`) unchanged; what it adds is a video of
unknown length fed one frame at a time, and eviction (`sam2_eviction`) of everything SAM 2 can no
longer read. Its few overrides of private sam2 methods live in `sam2_internals`, checked against
the sam2 version they were written for. With ``max_frames=None`` its masks are those of the
official offline `propagate_in_video` driven the same way (tests/segmenters/test_sam2_stream.py).

Frame indices count *processed* frames (0, 1, 2, ...): SAM 2's memory windows are counted in
frames, so a producer that drops frames gets offline SAM 2 on the subsampled video.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from sam2.sam2_video_predictor import SAM2VideoPredictor

from ..frames import check_frame
from .base import check_box
from .preprocess import PREPROCESS_MODES, sam2_preprocess
from .sam2_batched import DEFAULT_CAPACITY, propagate_batched
from .sam2_eviction import evict, state_stats
from .sam2_internals import Sam2Overrides

__all__ = ["SAM2StreamingPredictor", "UNKNOWN_NUM_FRAMES"]

# A streaming video has no known length. SAM 2 reads `num_frames` only to cap the object-pointer
# window at min(num_frames, max_obj_ptrs_in_encoder); "unknown" must not shrink it.
UNKNOWN_NUM_FRAMES = 2**62

State = dict[str, Any]


@dataclass
class _Stream:
    """Streaming bookkeeping kept in ``inference_state["stream"]``."""

    t: int = -1  # index of the current frame; -1 before the first
    tracked: bool = False  # whether track() ran on frame t
    max_frames: int | None = None  # conditioning-frame horizon (see StreamingSAM2)
    max_cond_frames: int | None = None  # conditioning frames kept per object (the most recent)
    preprocess: str = "exact"  # "exact": sam2's own loader, bit for bit; "fast": on the device
    batch_objects: bool = False  # propagate all objects in batches (`sam2_batched`), not one by one
    batch_capacity: int = DEFAULT_CAPACITY  # objects per batched forward
    defer_consolidation: bool = False  # inside add_boxes


class SAM2StreamingPredictor(Sam2Overrides, SAM2VideoPredictor):
    """`SAM2VideoPredictor` fed one frame at a time (the design is in sam2-streaming.md §3).

    Protocol per frame: `add_frame` (finalises the previous frame, evicts, stores the new one),
    optional `add_boxes` prompts, `track`; `remove_obj` between any two calls. Prompts made before
    `track` on a frame are initial conditioning frames; after `track`, a box on a known id is the
    official transient correction, and one in `reinit` a durable re-anchoring. Logits come back
    at SAM 2's low resolution; `video_res` upsamples them (only when a caller needs pixels).
    """

    @torch.inference_mode()
    def init_stream(
        self,
        offload_state_to_cpu: bool = False,
        max_frames: int | None = None,
        max_cond_frames: int | None = None,
        preprocess: str = "exact",
        batch_objects: bool = False,
        batch_capacity: int = DEFAULT_CAPACITY,
    ) -> State:
        """An empty state, like `init_state` but without a video: frames come from `add_frame`."""
        if preprocess not in PREPROCESS_MODES:
            raise ValueError(f"preprocess must be one of {PREPROCESS_MODES}, got {preprocess!r}")
        if max_frames is not None and max_frames < 0:
            raise ValueError(f"max_frames must be >= 0 (0 or None: keep all), got {max_frames}")
        if max_cond_frames is not None and max_cond_frames < 0:
            raise ValueError(f"max_cond_frames must be >= 0 (0 or None: keep all), got {max_cond_frames}")
        if batch_capacity < 1:
            raise ValueError(f"batch_capacity must be >= 1, got {batch_capacity}")
        device = self.device
        return {
            "images": {},  # {frame_idx: (3, S, S)}: only the current frame
            "num_frames": UNKNOWN_NUM_FRAMES,
            "offload_video_to_cpu": False,
            "offload_state_to_cpu": offload_state_to_cpu,
            "video_height": None,  # set by the first frame
            "video_width": None,
            "device": device,
            "storage_device": torch.device("cpu") if offload_state_to_cpu else device,
            "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {},
            "cached_features": {},
            "constants": {},
            "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(),
            "obj_ids": [],
            "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {},
            "stream": _Stream(
                max_frames=max_frames or None, max_cond_frames=max_cond_frames or None, preprocess=preprocess,
                batch_objects=batch_objects, batch_capacity=batch_capacity,
            ),
        }

    @torch.inference_mode()
    def preprocess(self, rgb: np.ndarray, mode: str = "exact") -> torch.Tensor:
        """(3, S, S) float32 on the device; "exact" is bit-identical to sam2's synchronous JPEG-folder
        loader, "fast" resizes on the device (`preprocess.sam2_fast`)."""
        return sam2_preprocess(rgb, self.image_size, self.device, mode)

    @torch.inference_mode()
    def add_frame(self, state: State, rgb: np.ndarray) -> int:
        """Make `rgb` (uint8 RGB, H x W x 3) the current frame; return its index.

        The previous frame is tracked if it was not, and finalised: memory is encoded for prompts
        given after its `track` (this needs its image features, which the next frame replaces).
        Then everything no later frame can read is evicted. The image encoder runs lazily, on
        the first prompt or `track` that needs this frame.
        """
        check_frame(rgb)
        stream: _Stream = state["stream"]
        height, width = rgb.shape[:2]
        if state["video_height"] is None:
            state["video_height"], state["video_width"] = height, width
        elif (height, width) != (state["video_height"], state["video_width"]):
            raise ValueError(
                f"frame {stream.t + 1} is {width}x{height}, but this stream started at "
                f"{state['video_width']}x{state['video_height']}"
            )
        if state["obj_ids"]:
            if stream.t >= 0 and not stream.tracked:
                self.track(state)
            self.propagate_in_video_preflight(state)
        t = stream.t + 1
        self._evict(state, t)
        state["cached_features"] = {}
        state["images"] = {t: self.preprocess(rgb, stream.preprocess)}
        stream.t, stream.tracked = t, False
        return t

    @torch.inference_mode()
    def add_boxes(
        self, state: State, boxes: Mapping[int, np.ndarray], reinit: Iterable[int] = ()
    ) -> tuple[int, list[int], torch.Tensor, torch.Tensor]:
        """Prompt each obj_id with a pixel xyxy box on the current frame; consolidate once.

        A new id, or any id before `track`, gets an initial conditioning frame (a prediction from
        the box alone). After `track`, an existing id gets the official correction unless it is
        in `reinit`, which first forgets its output on this frame, so the box becomes a durable
        conditioning frame. Each box goes through the official `add_new_points_or_box`, without
        its per-call consolidation of all objects at video resolution (k prompts would upsample
        k x N masks). Returns (t, the prompted ids, their low-res logits (k,1,h,w), scores (k,1)).
        """
        t = self._current_frame(state)
        checked = {int(obj_id): check_box(box) for obj_id, box in boxes.items()}
        reinit = set(reinit)
        state["stream"].defer_consolidation = True
        try:
            for obj_id, box in checked.items():
                obj_idx = state["obj_id_to_idx"].get(obj_id)
                if obj_id in reinit and obj_idx is not None:
                    state["frames_tracked_per_obj"][obj_idx].pop(t, None)
                    for outputs in (state["output_dict_per_obj"][obj_idx], state["temp_output_dict_per_obj"][obj_idx]):
                        outputs["cond_frame_outputs"].pop(t, None)
                        outputs["non_cond_frame_outputs"].pop(t, None)
                self.add_new_points_or_box(state, t, obj_id, box=box)
        finally:
            state["stream"].defer_consolidation = False
        ids = list(checked)
        outs = [self._output_at(state, t, state["obj_id_to_idx"][i]) for i in ids]
        device = state["device"]
        if not outs:
            side = self.image_size // 4
            return t, [], torch.empty((0, 1, side, side), device=device), torch.empty((0, 1), device=device)
        logits = torch.cat([out["pred_masks"].to(device, non_blocking=True) for out in outs])
        scores = torch.cat([out["object_score_logits"].to(device).float() for out in outs])
        return t, ids, logits, scores

    def video_res(self, state: State, low_res_logits: torch.Tensor) -> torch.Tensor:
        """(N,1,H,W) video-resolution logits: sam2's own upsampling of (N,1,h,w), one batched op."""
        return self._get_orig_video_res_output(state, low_res_logits)[1]

    @torch.inference_mode()
    def remove_obj(self, state: State, obj_id: int) -> None:
        """Stop tracking `obj_id` (official `remove_object`); other objects keep their memory."""
        self.remove_object(state, obj_id, strict=False, need_output=False)

    @torch.inference_mode()
    def track(self, state: State) -> tuple[int, list[int], torch.Tensor, torch.Tensor]:
        """Propagate every object onto the current frame: the body of `propagate_in_video`.

        Returns (t, obj_ids, low-res mask logits (N,1,h,w), object-score logits (N,1)).
        """
        t = self._current_frame(state)
        stream: _Stream = state["stream"]
        if stream.tracked:
            raise RuntimeError(f"frame {t} is already tracked; call add_frame() for the next one")
        obj_ids = list(state["obj_ids"])
        device = state["device"]
        if not obj_ids:
            stream.tracked = True
            shape = (0, 1, self.image_size // 4, self.image_size // 4)
            return t, [], torch.empty(shape, device=device), torch.empty((0, 1), device=device)
        self.propagate_in_video_preflight(state)
        outputs = state["output_dict_per_obj"]
        to_run = [i for i in range(len(obj_ids)) if t not in outputs[i]["cond_frame_outputs"]]
        if stream.batch_objects:
            ran = propagate_batched(self, state, t, to_run, stream.batch_capacity)
        else:
            ran = {i: self._propagate_one(state, t, i) for i in to_run}
        masks, scores = [], []
        for obj_idx in range(len(obj_ids)):
            if obj_idx in ran:
                current, pred_masks = ran[obj_idx]
                outputs[obj_idx]["non_cond_frame_outputs"][t] = current
            else:  # prompted before track: its conditioning output is this frame's
                current = outputs[obj_idx]["cond_frame_outputs"][t]
                pred_masks = current["pred_masks"].to(device, non_blocking=True)
            state["frames_tracked_per_obj"][obj_idx][t] = {"reverse": False}
            masks.append(pred_masks)
            scores.append(current["object_score_logits"].to(device))
        stream.tracked = True
        self._evict(state, t)
        return t, obj_ids, torch.cat(masks, dim=0), torch.cat(scores, dim=0)

    def _propagate_one(self, state: State, t: int, obj_idx: int) -> tuple[dict, torch.Tensor]:
        """The body of `propagate_in_video` for one object on a tracked frame (batch 1)."""
        return self._run_single_frame_inference(
            inference_state=state,
            output_dict=state["output_dict_per_obj"][obj_idx],
            frame_idx=t,
            batch_size=1,
            is_init_cond_frame=False,
            point_inputs=None,
            mask_inputs=None,
            reverse=False,
            run_mem_encoder=True,
        )

    def _current_frame(self, state: State) -> int:
        t = state["stream"].t
        if t < 0:
            raise RuntimeError("no frame yet: call add_frame() first")
        return t

    @staticmethod
    def _output_at(state: State, t: int, obj_idx: int) -> dict:
        """An object's latest output on frame t, looked up in the official consolidation's order."""
        temp, outputs = state["temp_output_dict_per_obj"][obj_idx], state["output_dict_per_obj"][obj_idx]
        for candidates in (temp, outputs):
            for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
                out = candidates[kind].get(t)
                if out is not None:
                    return out
        raise KeyError(f"object index {obj_idx} has no output on frame {t}")

    def _evict(self, state: State, n: int) -> None:
        """Drop what no frame >= n can read (`sam2_eviction.evict`)."""
        stream: _Stream = state["stream"]
        evict(self, state, n, stream.max_frames, stream.max_cond_frames)

    def state_stats(self, state: State) -> dict[str, int]:
        """How many per-frame entries the state retains (constant on long streams)."""
        return state_stats(state)
