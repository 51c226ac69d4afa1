"""SAM 3's tracker as the segmenter: transformers' `Sam3TrackerVideoModel`, one frame at a time.

`StreamingSAM3` offers the tracker what `sam2_stream.StreamingSAM2` offers (box prompts, new ids
mid-video, removal, presence, masks, appearance vectors pooled from the frame's image features)
by driving transformers' own streaming inference: every frame is preprocessed by the model's
video processor, handed to ``model(session, frame_idx=t, frame=pixels)`` (the streaming call),
and box prompts go through the processor's ``add_inputs_to_inference_session`` followed by the
same call on the same frame, which is how transformers itself conditions a frame. The model code
is not copied or changed: with pruning off, the low-resolution logits and object scores are
those of ``propagate_in_video_iterator`` over the loaded video, bit for bit in float32 (see
tests/segmenters/test_sam3_tracker.py).

What the wrapper adds: after each frame it prunes what no later frame can read (`sam3_session`),
so state stays flat on arbitrarily long videos (transformers' session keeps every frame's pixels,
12 MB each at 1008 px in float32, and per object and frame its outputs, a 1008 x 1008 mask
among them); it removes objects
(transformers cannot); and it reports results in the tracker's `TrackedMasks` form. Masks it
reports are cleaned as SAM 3's video model cleans them (holes and specks up to `fill_hole_area`
low-resolution pixels, local code in `detectors.sam3_kernels`); what the model remembers is not.

A prompt frame costs one extra pass of the objects already tracked on it: transformers
conditions a frame by running all objects on it again (their results do not change; their
memories are re-encoded together with the new ones, as transformers does).

On CUDA everything runs under bfloat16 autocast (float32 weights), as upstream runs SAM 3.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from ..detectors.sam3_kernels import fill_holes_in_mask_scores
from .base import check_box
from ..frames import check_frame
from .sam2_results import TrackedMasks, pack_results
from .sam3_session import prune, remove_object, session_stats

logger = logging.getLogger(__name__)

# SAM 3's video model cleans masks up to this many low-resolution pixels (`Sam3VideoConfig.fill_hole_area`).
DEFAULT_FILL_HOLE_AREA = 16


def build_sam3_tracker(model: str, device: str) -> tuple[Any, Any]:
    """(Sam3TrackerVideoModel, Sam3TrackerVideoProcessor) from a hub id or local folder."""
    from ..detectors.sam3 import load_sam3_parts

    return load_sam3_parts(model, "Sam3TrackerVideoModel", "Sam3TrackerVideoProcessor", torch.device(device))


class StreamingSAM3:
    """The tracker's handle on SAM 3's tracker: one frame at a time, objects added and removed at will."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        prune_state: bool = True,
        fill_hole_area: int = DEFAULT_FILL_HOLE_AREA,
        half: bool | None = None,
    ) -> None:
        """`model`/`processor`: see `build_sam3_tracker`; `prune_state=False` keeps what transformers
        keeps (tests); `half=None` means bfloat16 autocast on CUDA."""
        self.model = model
        self.processor = processor
        self.device: torch.device = next(model.parameters()).device
        self.prune_state = prune_state
        self.fill_hole_area = fill_hole_area
        self.half = self.device.type == "cuda" and half is not False
        self.reset()

    @property
    def obj_ids(self) -> list[int]:
        return list(self.session.obj_ids)

    def reset(self) -> None:
        """Forget everything: a new video starts."""
        self.session = self.processor.init_video_session(inference_device=self.device, dtype=torch.float32)
        self._t = -1
        self._pixels: torch.Tensor | None = None

    # ------------------------------------------------------------ raw protocol (tests compare these)
    def step(self, rgb: np.ndarray) -> tuple[int, list[int], torch.Tensor, torch.Tensor]:
        """Make `rgb` the current frame and propagate every object onto it: (t, ids, low-res logits
        (N,1,h,w), object-score logits (N,1)), exactly what transformers returns for that frame."""
        check_frame(rgb)
        height, width = rgb.shape[:2]
        if self.session.video_height is None:
            self.session.video_height, self.session.video_width = height, width
        elif (height, width) != (self.session.video_height, self.session.video_width):
            raise ValueError(
                f"frame {self._t + 1} is {width}x{height}, but this stream started at "
                f"{self.session.video_width}x{self.session.video_height}"
            )
        t = self._t + 1
        if self.prune_state:
            prune(self.session, self.model.config, t)
        with self._compute():
            video = self.processor.video_processor(videos=rgb[None], device=self.device, return_tensors="pt")
            self._pixels = video.pixel_values_videos[0]
            self._t = t
            if not self.session.obj_ids:
                self.session.add_new_frame(self._pixels, t)
                return t, [], self._empty_logits(), torch.empty((0, 1), device=self.device)
            return self._run()

    def prompt(self, boxes: Mapping[int, np.ndarray]) -> tuple[int, list[int], torch.Tensor, torch.Tensor]:
        """Box prompts (pixel xyxy) on the current frame, then transformers' forward on it again:
        (t, the prompted ids, their low-res logits, their object-score logits)."""
        if self._t < 0:
            raise RuntimeError("prompt() works on the current frame: call step() first")
        ids = [int(i) for i in boxes]
        checked = [check_box(boxes[i]).tolist() for i in boxes]
        with self._compute():
            self.processor.add_inputs_to_inference_session(
                self.session, frame_idx=self._t, obj_ids=list(ids), input_boxes=[checked],  # a copy: the model empties it
                original_size=(self.session.video_height, self.session.video_width),
            )
            t, all_ids, logits, scores = self._run()
        rows = [all_ids.index(i) for i in ids]
        return t, ids, logits[rows], scores[rows]

    def _run(self) -> tuple[int, list[int], torch.Tensor, torch.Tensor]:
        out = self.model(self.session, frame_idx=self._t, frame=self._pixels)
        return self._t, list(out.object_ids), out.pred_masks, out.object_score_logits.reshape(-1, 1)

    def _empty_logits(self) -> torch.Tensor:
        side = self.model.prompt_encoder.mask_input_size[0]
        return torch.empty((0, 1, side, side), device=self.device)

    # ------------------------------------------------------------ Segmenter interface
    def track(self, rgb: np.ndarray, with_masks: bool = False) -> TrackedMasks:
        """Take the next RGB uint8 (H, W, 3) frame and propagate every live object onto it."""
        _, ids, logits, scores = self.step(rgb)
        return self._results(ids, logits, scores, with_masks)

    def add_objects(self, boxes: Mapping[int, np.ndarray], with_masks: bool = False) -> TrackedMasks:
        """Box prompts (pixel-edge xyxy) on the frame last passed to `track`; results for these ids.

        A new id starts a track on this frame (a conditioning frame); a known id gets
        transformers' correction (the box refines this frame's mask, an ordinary memory).
        """
        if self._t < 0:
            raise RuntimeError("add_objects() prompts the current frame: call track() first")
        if not boxes:
            return TrackedMasks.empty(self.session.video_height, self.session.video_width, with_masks)
        _, ids, logits, scores = self.prompt(boxes)
        return self._results(ids, logits, scores, with_masks)

    def remove(self, obj_id: int) -> None:
        """Stop tracking `obj_id` (an unknown id is ignored); the others keep their memory."""
        remove_object(self.session, int(obj_id))

    def stats(self) -> dict[str, int]:
        """What the session holds now (`sam3_session.session_stats`)."""
        return {"frames_processed": self._t + 1, **session_stats(self.session)}

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.half else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            yield

    def _results(self, ids: list[int], low_res: torch.Tensor, scores: torch.Tensor, with_masks: bool) -> TrackedMasks:
        """Cleaned, upsampled with the processor's own `post_process_masks`, measured on the device."""
        height, width = self.session.video_height, self.session.video_width
        if not ids:
            return TrackedMasks.empty(height, width, with_masks)
        with self._compute():
            cleaned = fill_holes_in_mask_scores(low_res.float(), self.fill_hole_area)
            logits = self.processor.post_process_masks([cleaned], [[height, width]], binarize=False)[0]
            return pack_results(ids, logits, scores.float(), self._features(), with_masks)

    def _features(self) -> torch.Tensor | None:
        """The current frame's top-level image features (1, C, h, w), if the model ran on it."""
        cached = self.session.cache.get_vision_features(self._t)
        if cached is None:
            return None
        top = cached["vision_feats"][-1]  # (h*w, 1, C)
        h, w = self.model.backbone_feature_sizes[-1]
        return top.permute(1, 2, 0).reshape(1, top.shape[-1], h, w)

