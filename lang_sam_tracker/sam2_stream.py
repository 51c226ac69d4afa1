"""Streaming SAM 2: one frame in, masks for every live object out, with bounded memory.

`SAM2StreamingPredictor` is a thin subclass of sam2's own `SAM2VideoPredictor` (build it with
`checkpoints.build_sam2_streaming`). It keeps the official ``inference_state`` dict and calls the
official methods (`add_new_points_or_box`, `remove_object`, `propagate_in_video_preflight`,
`_run_single_frame_inference`, `_get_orig_video_res_output`) unchanged; what it adds is a video of
unknown length fed one frame at a time, and eviction of everything SAM 2 can no longer read. With
``max_frames=None`` its masks are those of the official offline `propagate_in_video` driven the
same way (see ``tests/test_sam2_stream.py``). `StreamingSAM2` is the small facade the tracker uses.

Frame indices count *processed* frames (0, 1, 2, ...): SAM 2's memory windows are counted in
frames, so a producer that drops frames gets offline SAM 2 on the subsampled video.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from PIL import Image
from sam2.modeling.sam2_base import NO_OBJ_SCORE
from sam2.sam2_video_predictor import SAM2VideoPredictor

logger = logging.getLogger(__name__)

# A streaming video has no known length. SAM 2 reads `num_frames` only to cap the object-pointer
# window at min(num_frames, max_obj_ptrs_in_encoder); "unknown" must not shrink it.
UNKNOWN_NUM_FRAMES = 2**62
# The normalisation of sam2's frame loaders (utils/misc.py).
_IMG_MEAN = (0.485, 0.456, 0.406)
_IMG_STD = (0.229, 0.224, 0.225)

State = dict[str, Any]
# Masks are handed to the tracker on a grid of at most this many pixels a side (coverage, specks).
GRID_MAX_SIDE = 256
# Conditioning frames kept per object: every one is attended on every later frame.
DEFAULT_MAX_COND_FRAMES = 4


@dataclass
class _Stream:
    """Streaming bookkeeping kept in ``inference_state["stream"]``."""

    t: int = -1  # index of the current frame; -1 before the first
    tracked: bool = False  # whether track() ran on frame t
    max_frames: int | None = None  # conditioning-frame horizon (see StreamingSAM2)
    max_cond_frames: int | None = None  # conditioning frames kept per object (the most recent)


class SAM2StreamingPredictor(SAM2VideoPredictor):
    """`SAM2VideoPredictor` fed one frame at a time (the design is in sam2-streaming.md §3).

    Protocol per frame: `add_frame` (finalises the previous frame, evicts, stores the new one),
    optional `add_box` prompts, `track`; `remove_obj` between any two calls. Prompts made before
    `track` on a frame are initial conditioning frames; after `track`, `add_box(reinit=False)` is
    the official transient correction and `reinit=True` a durable re-anchoring.
    """

    @torch.inference_mode()
    def init_stream(
        self, offload_state_to_cpu: bool = False, max_frames: int | None = None, max_cond_frames: int | None = None
    ) -> State:
        """An empty state, like `init_state` but without a video: frames come from `add_frame`."""
        if max_frames is not None and max_frames < 0:
            raise ValueError(f"max_frames must be >= 0 (0 or None: keep all), got {max_frames}")
        if max_cond_frames is not None and max_cond_frames < 0:
            raise ValueError(f"max_cond_frames must be >= 0 (0 or None: keep all), got {max_cond_frames}")
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
            "stream": _Stream(max_frames=max_frames or None, max_cond_frames=max_cond_frames or None),
        }

    @torch.inference_mode()
    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """(3, S, S) float32 on the device, bit-identical to sam2's synchronous JPEG-folder loader.

        Same steps as `_load_img_as_tensor` + `load_video_frames_from_jpg_images`: PIL resize
        (bicubic for RGB), /255 in float64, cast to float32, then mean/std in float32.
        """
        img = Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB")
        arr = np.array(img.resize((self.image_size, self.image_size))) / 255.0
        x = torch.from_numpy(arr).permute(2, 0, 1).float().to(self.device)
        x -= torch.tensor(_IMG_MEAN, dtype=torch.float32, device=x.device)[:, None, None]
        x /= torch.tensor(_IMG_STD, dtype=torch.float32, device=x.device)[:, None, None]
        return x

    @torch.inference_mode()
    def add_frame(self, state: State, rgb: np.ndarray) -> int:
        """Make `rgb` (uint8 RGB, H x W x 3) the current frame; return its index.

        The previous frame is tracked if it was not, and finalised: memory is encoded for prompts
        given after its `track` (this needs its image features, which the next frame replaces).
        Then everything no later frame can read is evicted. The image encoder runs lazily, on
        the first prompt or `track` that needs this frame.
        """
        _check_frame(rgb)
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
        state["images"] = {t: self.preprocess(rgb)}
        stream.t, stream.tracked = t, False
        return t

    @torch.inference_mode()
    def add_box(
        self, state: State, obj_id: int, box: np.ndarray, reinit: bool = False
    ) -> tuple[int, list[int], torch.Tensor, torch.Tensor]:
        """Prompt `obj_id` with a pixel xyxy box on the current frame.

        A new id, or any id before `track`, gets an initial conditioning frame (a prediction from
        the box alone). After `track`, an existing id gets the official correction unless
        `reinit`, which first forgets its output on this frame, so the box becomes a durable
        conditioning frame. Returns (t, obj_ids, video-res logits (N,1,H,W), scores (N,1)).
        """
        t = self._current_frame(state)
        box = _check_box(box)
        obj_idx = state["obj_id_to_idx"].get(obj_id)
        if reinit and obj_idx is not None:
            state["frames_tracked_per_obj"][obj_idx].pop(t, None)
            for outputs in (state["output_dict_per_obj"][obj_idx], state["temp_output_dict_per_obj"][obj_idx]):
                outputs["cond_frame_outputs"].pop(t, None)
                outputs["non_cond_frame_outputs"].pop(t, None)
        _, obj_ids, video_res_masks = self.add_new_points_or_box(state, t, obj_id, box=box)
        return t, list(obj_ids), video_res_masks, self._scores_at(state, t)

    @torch.inference_mode()
    def remove_obj(self, state: State, obj_id: int) -> None:
        """Stop tracking `obj_id` (official `remove_object`); other objects keep their memory."""
        self.remove_object(state, obj_id, strict=False, need_output=False)

    @torch.inference_mode()
    def track(self, state: State) -> tuple[int, list[int], torch.Tensor, torch.Tensor]:
        """Propagate every object onto the current frame: the body of `propagate_in_video`.

        Returns (t, obj_ids, video-res mask logits (N,1,H,W), object-score logits (N,1)).
        """
        t = self._current_frame(state)
        stream: _Stream = state["stream"]
        if stream.tracked:
            raise RuntimeError(f"frame {t} is already tracked; call add_frame() for the next one")
        obj_ids = list(state["obj_ids"])
        device = state["device"]
        if not obj_ids:
            stream.tracked = True
            shape = (0, 1, state["video_height"], state["video_width"])
            return t, [], torch.empty(shape, device=device), torch.empty((0, 1), device=device)
        self.propagate_in_video_preflight(state)
        masks, scores = [], []
        for obj_idx in range(len(obj_ids)):
            outputs = state["output_dict_per_obj"][obj_idx]
            current = outputs["cond_frame_outputs"].get(t)
            if current is not None:
                pred_masks = current["pred_masks"].to(device, non_blocking=True)
            else:
                current, pred_masks = self._run_single_frame_inference(
                    inference_state=state,
                    output_dict=outputs,
                    frame_idx=t,
                    batch_size=1,
                    is_init_cond_frame=False,
                    point_inputs=None,
                    mask_inputs=None,
                    reverse=False,
                    run_mem_encoder=True,
                )
                outputs["non_cond_frame_outputs"][t] = current
            state["frames_tracked_per_obj"][obj_idx][t] = {"reverse": False}
            masks.append(pred_masks)
            scores.append(current["object_score_logits"].to(device))
        _, video_res_masks = self._get_orig_video_res_output(state, torch.cat(masks, dim=0))
        stream.tracked = True
        self._evict(state, t)
        return t, obj_ids, video_res_masks, torch.cat(scores, dim=0)

    def _current_frame(self, state: State) -> int:
        t = state["stream"].t
        if t < 0:
            raise RuntimeError("no frame yet: call add_frame() first")
        return t

    def _scores_at(self, state: State, t: int) -> torch.Tensor:
        """(N,1) object-score logits on frame t, from the outputs the official consolidation uses."""
        device = state["device"]
        scores = []
        for obj_idx in range(len(state["obj_ids"])):
            temp, outputs = state["temp_output_dict_per_obj"][obj_idx], state["output_dict_per_obj"][obj_idx]
            candidates = (
                temp["cond_frame_outputs"].get(t),
                temp["non_cond_frame_outputs"].get(t),
                outputs["cond_frame_outputs"].get(t),
                outputs["non_cond_frame_outputs"].get(t),
            )
            out = next((c for c in candidates if c is not None), None)
            if out is None:  # not prompted or tracked on t yet: absent, like its NO_OBJ_SCORE mask
                scores.append(torch.full((1, 1), NO_OBJ_SCORE, device=device))
            else:
                scores.append(out["object_score_logits"].to(device).float())
        return torch.cat(scores, dim=0) if scores else torch.empty((0, 1), device=device)

    def _evict(self, state: State, n: int) -> None:
        """Drop what no frame >= n can read (sam2-streaming.md §2, §3.4), per object.

        Frame n reads: its object's conditioning frames (all, or the K = max_cond_frames_in_attn
        most recent); full memories of the num_maskmem-1 previous frames (stride r); object
        pointers of the max_obj_ptrs-1 previous frames. Entries only in the pointer window are
        stripped to the pointer. With a `max_frames` horizon, conditioning frames older than
        n - max_frames (except the object's latest) are demoted to ordinary memories, exactly as
        SAM 2 treats unselected conditioning frames, and so leave with the windows; with a
        `max_cond_frames` cap, only each object's most recent conditioning frames stay such.
        """
        stream: _Stream = state["stream"]
        r = self.memory_temporal_stride_for_eval
        lo_spatial = ((n - 2) // r) * r - (self.num_maskmem - 3) * r
        if self.use_obj_ptrs_in_encoder:
            lo_pointer = n - (min(state["num_frames"], self.max_obj_ptrs_in_encoder) - 1)
        else:
            lo_pointer = n
        keep_from = min(lo_spatial, lo_pointer)
        k = self.max_cond_frames_in_attn
        for obj_idx, outputs in state["output_dict_per_obj"].items():
            cond, non_cond = outputs["cond_frame_outputs"], outputs["non_cond_frame_outputs"]
            if stream.max_frames and cond:
                latest = max(cond)
                for f in [f for f in cond if f < n - stream.max_frames and f != latest]:
                    non_cond[f] = cond.pop(f)
            if stream.max_cond_frames and len(cond) > stream.max_cond_frames:
                for f in sorted(cond)[: -stream.max_cond_frames]:
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

    def state_stats(self, state: State) -> dict[str, int]:
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


def _check_frame(rgb: np.ndarray) -> None:
    if (
        not isinstance(rgb, np.ndarray)
        or rgb.dtype != np.uint8
        or rgb.ndim != 3
        or rgb.shape[2] != 3
        or min(rgb.shape[:2]) == 0
    ):
        got = f"{type(rgb).__name__} {getattr(rgb, 'dtype', '')} {getattr(rgb, 'shape', '')}"
        raise ValueError(f"expected an RGB uint8 frame of shape (H, W, 3), got {got}")


def _check_box(box: np.ndarray) -> np.ndarray:
    arr = np.asarray(box, dtype=np.float32).reshape(-1)
    if arr.shape != (4,) or not np.isfinite(arr).all() or arr[2] < arr[0] or arr[3] < arr[1]:
        raise ValueError(f"expected a finite xyxy box with x0 <= x1 and y0 <= y1, got {box!r}")
    return arr


@dataclass
class TrackedMasks:
    """SAM 2's view of some objects on one frame, on the host.

    Boxes are pixel-edge xyxy of each mask's tight extent (a mask on columns 10..19 gives x0=10,
    x1=20), zeros where the object is not visible. `presence` is SAM 2's object-score logit (the
    model calls an object absent when it is <= 0); `visible` is presence > 0 and a non-empty mask.
    `grid` is every `grid_step`-th pixel of each mask (what the tracker measures coverage and
    specks on); `appearance` is one unit vector per object (what it re-identifies with).
    """

    obj_ids: list[int]
    boxes_xyxy: np.ndarray  # (N, 4) float32
    presence: np.ndarray  # (N,) float32
    visible: np.ndarray  # (N,) bool
    masks: np.ndarray | None = None  # (N, H, W) bool at video resolution, only when requested
    mask_iou: np.ndarray | None = None  # (N, N) float32 pairwise mask IoU (finds two tracks on one object)
    grid: np.ndarray | None = None  # (N, ceil(H/step), ceil(W/step)) bool
    grid_step: int = 1
    appearance: np.ndarray | None = None  # (N, D) float32, unit rows (zeros: nothing to see)

    def __len__(self) -> int:
        return len(self.obj_ids)

    @classmethod
    def empty(cls, height: int, width: int, with_masks: bool = False) -> "TrackedMasks":
        masks = np.zeros((0, height, width), dtype=bool) if with_masks else None
        return cls([], np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), bool), masks)


def pooled_appearance(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(N, C) unit vectors: image-encoder features (1, C, h, w) averaged under each mask (N, H, W).

    The masks are area-resized to the feature grid (both span the whole frame: SAM 2 resizes the
    frame to its square input without keeping the aspect ratio). An empty mask gives zeros.
    """
    with torch.autocast(masks.device.type, enabled=False):
        weights = torch.nn.functional.interpolate(masks[:, None].float(), size=features.shape[-2:], mode="area")
        feats = features.float()
        pooled = (weights * feats).sum(dim=(2, 3)) / weights.sum(dim=(2, 3)).clamp(min=1e-6)
        return torch.nn.functional.normalize(pooled, dim=1) * (weights.sum(dim=(2, 3)) > 0)


def mask_boxes(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-edge xyxy boxes (N,4) float32 and non-emptiness (N,) of boolean masks (N,H,W), on their device."""
    _, height, width = masks.shape
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (N,H), (N,W)
    ys = torch.arange(height, device=masks.device)
    xs = torch.arange(width, device=masks.device)
    y0 = torch.where(rows, ys, height).amin(dim=1)
    y1 = torch.where(rows, ys, -1).amax(dim=1) + 1
    x0 = torch.where(cols, xs, width).amin(dim=1)
    x1 = torch.where(cols, xs, -1).amax(dim=1) + 1
    nonempty = rows.any(dim=1)
    boxes = torch.stack([x0, y0, x1, y1], dim=1).float()
    return torch.where(nonempty[:, None], boxes, torch.zeros_like(boxes)), nonempty


def pairwise_mask_iou(grid: torch.Tensor) -> torch.Tensor:
    """(N,N) IoU of boolean grid masks (N,h,w) on their device: enough to tell two tracks on one
    object from neighbours, cheap at 1080p."""
    flat = grid.flatten(1).float()
    with torch.autocast(grid.device.type, enabled=False):  # exact pixel counts, not bfloat16
        inter = flat @ flat.T
    area = flat.sum(dim=1)
    union = area[:, None] + area[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union))


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

    On CUDA everything runs under bfloat16 autocast, as sam2's own examples do; on the CPU in
    float32. Boxes are computed on the device; full masks are copied to the host only on request.
    """

    def __init__(
        self,
        predictor: SAM2StreamingPredictor,
        max_frames: int | None = None,
        offload_state_to_cpu: bool = False,
        max_cond_frames: int | None = DEFAULT_MAX_COND_FRAMES,
    ) -> None:
        self.predictor = predictor
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
        with self._compute():
            for obj_id, box in boxes.items():
                known = obj_id in self._state["obj_id_to_idx"]
                _, obj_ids, logits, scores = self.predictor.add_box(
                    self._state, int(obj_id), box, reinit=known and durable
                )
            rows = [obj_ids.index(int(obj_id)) for obj_id in boxes]
            return self._results([int(i) for i in boxes], logits[rows], scores[rows], with_masks)

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
        self, obj_ids: list[int], logits: torch.Tensor, scores: torch.Tensor, with_masks: bool
    ) -> TrackedMasks:
        masks = logits[:, 0] > 0
        boxes, nonempty = mask_boxes(masks)
        presence = scores.reshape(-1).float()
        visible = (presence > 0) & nonempty
        boxes = torch.where(visible[:, None], boxes, torch.zeros_like(boxes))
        step = max(1, max(masks.shape[-2:]) // GRID_MAX_SIDE)
        grid = masks[:, ::step, ::step]
        overlap = pairwise_mask_iou(grid)
        appearance = self._appearance(masks & visible[:, None, None])
        packed = torch.cat([boxes, presence[:, None], visible[:, None].float(), overlap, appearance], dim=1)
        packed = packed.cpu().numpy()
        n = len(obj_ids)
        return TrackedMasks(
            obj_ids=list(obj_ids),
            boxes_xyxy=packed[:, :4].astype(np.float32),
            presence=packed[:, 4].astype(np.float32),
            visible=packed[:, 5] > 0,
            masks=masks.cpu().numpy() if with_masks else None,
            mask_iou=packed[:, 6 : 6 + n].astype(np.float32),
            grid=grid.cpu().numpy(),
            grid_step=step,
            appearance=packed[:, 6 + n :].astype(np.float32),
        )

    def _appearance(self, masks: torch.Tensor) -> torch.Tensor:
        """Image-encoder features of the current frame pooled under each mask (SAM 2's own features)."""
        cached = self._state["cached_features"].get(self._state["stream"].t)
        if cached is None:  # no model ran on this frame (nothing tracked)
            return torch.zeros((len(masks), 0), device=masks.device)
        _, backbone_out = cached
        return pooled_appearance(backbone_out["vision_features"], masks)
