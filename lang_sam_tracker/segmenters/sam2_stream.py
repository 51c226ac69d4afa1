"""Streaming SAM 2 as the tracker sees it: one frame in, masks for every live object out.

`StreamingSAM2` is the small facade the tracker uses (the `Segmenter` protocol of `tracker.py`):
it owns one stream of `sam2_predictor.SAM2StreamingPredictor`, runs it under inference mode (and
bfloat16 autocast on CUDA), and hands back `TrackedMasks` (`sam2_results`).
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping

import numpy as np
import torch

from .sam2_batched import DEFAULT_CAPACITY
from .sam2_predictor import SAM2StreamingPredictor
from .sam2_results import TrackedMasks, mask_boxes, pack_results

__all__ = ["StreamingSAM2", "TrackedMasks", "mask_boxes"]

# Conditioning frames kept per object: every one is attended on every later frame.
DEFAULT_MAX_COND_FRAMES = 4


class StreamingSAM2:
    """The tracker's handle on SAM 2: one frame at a time, objects added and removed at will.

    ``max_frames`` (``--max_frames``) is the memory horizon, in processed frames. SAM 2's own read
    windows are always kept exactly: the spatial memories of the last num_maskmem-1 frames and
    the object pointers of the last max_obj_ptrs-1 frames (6 and 15 for the official models).
    On top of those, SAM 2 attends to every conditioning frame of an object (each box prompt from
    the detector, i.e. each start or re-anchoring). With ``max_frames=N``, a conditioning frame
    more than N processed frames older than the frame being tracked is dropped, except each
    object's most recent one, so memory and per-frame cost stay bounded on long videos with
    periodic re-anchoring (at most about N / re-anchoring interval + 1 per object). ``0`` or
    ``None`` keeps every conditioning frame: exactly offline SAM 2, but one more memory to store
    and attend to per re-anchoring. Everything else (past images, features, outputs) is evicted
    as soon as SAM 2 can no longer read it, whatever ``max_frames`` is.

    ``batch_objects`` runs every live object in one forward per frame (memory attention, mask
    decoder, memory encoder), in buckets of at most ``batch_capacity``, whatever frame each was born
    on (`sam2_batched`); ``False`` runs sam2's own forward per object, bit for bit (``--sam2_exact``).
    On CUDA everything runs under bfloat16 autocast, as sam2's own examples do; on the CPU in
    float32. Boxes are computed on the device; full masks are copied to the host only on request.
    """

    def __init__(
        self,
        predictor: SAM2StreamingPredictor,
        max_frames: int | None = None,
        offload_state_to_cpu: bool = False,
        max_cond_frames: int | None = DEFAULT_MAX_COND_FRAMES,
        preprocess: str = "fast",
        batch_objects: bool = True,
        batch_capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.predictor = predictor
        self.preprocess = preprocess
        self.batch_objects = batch_objects
        self.batch_capacity = batch_capacity
        self.device: torch.device = predictor.device
        self.max_frames = max_frames
        self.max_cond_frames = max_cond_frames
        self.offload_state_to_cpu = offload_state_to_cpu
        self.reset()

    @property
    def obj_ids(self) -> list[int]:
        return list(self._state["obj_ids"])

    def reset(self) -> None:
        """Forget everything: a new video starts."""
        self._state = self.predictor.init_stream(
            offload_state_to_cpu=self.offload_state_to_cpu,
            max_frames=self.max_frames,
            max_cond_frames=self.max_cond_frames,
            preprocess=self.preprocess,
            batch_objects=self.batch_objects,
            batch_capacity=self.batch_capacity,
        )

    def track(self, rgb: np.ndarray, with_masks: bool = False) -> TrackedMasks:
        """Take the next RGB uint8 (H, W, 3) frame and propagate every live object onto it."""
        with self._compute():
            self.predictor.add_frame(self._state, rgb)
            _, obj_ids, logits, scores = self.predictor.track(self._state)
            return self._results(obj_ids, logits, scores, with_masks)

    def add_objects(
        self, boxes: Mapping[int, np.ndarray], with_masks: bool = False, durable: bool = False
    ) -> TrackedMasks:
        """Box prompts (pixel-edge xyxy) on the frame last passed to `track`; results for these ids.

        A new id starts a track on this frame (an initial conditioning frame). An existing id gets
        SAM 2's own correction: the box refines this frame's mask, which becomes an ordinary memory,
        so re-anchoring adds nothing that every later frame must attend to. `durable` makes it a
        conditioning frame instead (kept up to `max_cond_frames` per object).
        """
        if self._state["stream"].t < 0:
            raise RuntimeError("add_objects() prompts the current frame: call track() first")
        if not boxes:
            return TrackedMasks.empty(self._state["video_height"], self._state["video_width"], with_masks)
        known = set(self._state["obj_id_to_idx"])
        reinit = [int(i) for i in boxes if int(i) in known] if durable else []
        with self._compute():
            _, obj_ids, logits, scores = self.predictor.add_boxes(self._state, boxes, reinit=reinit)
            return self._results(obj_ids, logits, scores, with_masks)

    def remove(self, obj_id: int) -> None:
        """Stop tracking `obj_id` (an unknown id is ignored); the others keep their memory."""
        with self._compute():
            self.predictor.remove_obj(self._state, obj_id)

    def stats(self) -> dict[str, int]:
        """Retained per-frame entries of the state (see `SAM2StreamingPredictor.state_stats`)."""
        return self.predictor.state_stats(self._state)

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        """inference_mode everywhere; bfloat16 autocast on CUDA, as sam2's examples run it."""
        if self.device.type == "cuda":
            autocast = torch.autocast("cuda", dtype=torch.bfloat16)
        else:
            autocast = contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            yield

    def _results(
        self, obj_ids: list[int], low_res: torch.Tensor, scores: torch.Tensor, with_masks: bool
    ) -> TrackedMasks:
        """One batched upsample of these objects' logits, everything measured on the device, one copy."""
        logits = self.predictor.video_res(self._state, low_res)
        cached = self._state["cached_features"].get(self._state["stream"].t)
        features = None if cached is None else cached[1]["vision_features"]  # None: no model ran
        return pack_results(obj_ids, logits, scores, features, with_masks)
