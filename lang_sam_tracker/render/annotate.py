"""Annotated videos: mask overlay, box and "label id" in a colour fixed per id, H.264 MP4 a browser plays.

Drawing (each mask on its box crop) and encoding run in a background thread behind a bounded
queue, so the tracker only pays for handing over a frame. The video is written at a constant rate (the processed-frame rate), one
output frame per processed frame.
"""

from __future__ import annotations

import colorsys
import logging
import os
import queue
import threading
import time
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import av
import cv2
import numpy as np

from ..results.keys import key_digest, resolve_video_path
from ..results.maskcrop import mask_window
from ..results.record import ObjectObservation

logger = logging.getLogger(__name__)

_MASK_ALPHA = 0.45
_GOLDEN = 0.618033988749895
_STOP = object()


def annotated_video_path(output_dir: str | os.PathLike, video_path: str | os.PathLike, text_prompt: str) -> Path:
    """`<output_dir>/<stem>_<hash8>.mp4`, both from the resolved source path (`keys.resolve_video_path`,
    the path of the resume key) and the hash also from the normalised prompt: same-named videos stay
    apart, one file's listings share one name, and a second prompt never overwrites the first's video."""
    return Path(output_dir) / f"{Path(resolve_video_path(video_path)).stem}_{key_digest(video_path, text_prompt)}.mp4"


def partial_video_path(final: Path) -> Path:
    """`clip_1a2b3c4d.mp4` is written as `.clip_1a2b3c4d.partial.mp4` until the video succeeds."""
    return final.with_name(f".{final.stem}.partial{final.suffix}")


def id_color(obj_id: int) -> tuple[int, int, int]:
    """A distinct, stable RGB colour per id (hues spread by the golden ratio)."""
    r, g, b = colorsys.hsv_to_rgb((obj_id * _GOLDEN) % 1.0, 0.8, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def _relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 black .. 1 white)."""
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two colours, 1 (same) to 21 (black on white)."""
    la, lb = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def ink_for(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with `background` (at least 4.58:1 for any colour)."""
    black, white = (0, 0, 0), (255, 255, 255)
    return black if contrast_ratio(background, black) >= contrast_ratio(background, white) else white


def label_boxes(
    anchors: Sequence[tuple[int, int, int, int]], sizes: Sequence[tuple[int, int]], height: int
) -> list[tuple[int, int, int, int]]:
    """Where each label goes, as (x0, y0, x1, y1) pixel rectangles, none overlapping an earlier one.

    A label sits just above its box (`anchors`: x0, y0, x1, y1), or just inside the top when there
    is no room above; a label that would cover an earlier one moves down past it, so the labels of
    boxes that coincide are stacked instead of drawn over each other.
    """
    placed: list[tuple[int, int, int, int]] = []

    def overlapped(rect: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
        return next((o for o in placed if rect[0] < o[2] and o[0] < rect[2] and rect[1] < o[3] and o[1] < rect[3]), None)

    for (x0, y0, _, _), (w, h) in zip(anchors, sizes):
        top = y0 - h if y0 - h >= 0 else y0
        down = (x0, top, x0 + w, top + h)
        while (other := overlapped(down)) is not None:
            down = (x0, other[3], x0 + w, other[3] + h)
        if down[3] <= height:
            placed.append(down)
            continue
        up = (x0, top, x0 + w, top + h)  # no room below: stack upwards instead
        while (other := overlapped(up)) is not None:
            up = (x0, other[1] - h, x0 + w, other[1])
        placed.append(up if up[1] >= 0 else (x0, max(0, height - h), x0 + w, height))
    return placed


@lru_cache(maxsize=1024)
def _tint_table(color: tuple[int, int, int]) -> np.ndarray:
    """(256, 1, 3) lookup table of the mask tint: each input level's blended value, per channel,
    computed exactly as the blend itself (float64 level x (1 - alpha) + float32 tint x alpha)."""
    levels = np.arange(256, dtype=np.uint8)[:, None]
    blended = (levels * (1 - _MASK_ALPHA) + np.asarray(color, np.float32) * _MASK_ALPHA).astype(np.uint8)
    return blended.reshape(256, 1, 3)


def annotate_frame(rgb: np.ndarray, objects: Sequence[ObjectObservation], crop: bool = True) -> np.ndarray:
    """A copy of `rgb` with each object's mask (if any) tinted, its box drawn and "label id" written.

    Each mask is tinted on the window of the frame that holds its pixels (its box, `maskcrop`)
    through a lookup table, not on the whole frame; `crop=False` blends over the whole frame
    (the earlier code: same pixels, kept for the comparison in tests and benchmarks).
    """
    out = rgb.copy()
    height, width = out.shape[:2]
    for obs in objects:
        if obs.mask is not None:
            m = np.asarray(obs.mask, dtype=bool)
            if m.shape != (height, width):
                raise ValueError(f"mask of object {obs.obj_id} is {m.shape}, the frame is {(height, width)}")
            if crop:
                window = mask_window(m, obs.box_xyxy)
                if window is None:
                    continue
                y0, y1, x0, x1 = window
                region = out[y0:y1, x0:x1]
                np.copyto(region, cv2.LUT(region, _tint_table(id_color(obs.obj_id))), where=m[y0:y1, x0:x1, None])
            else:
                tint = np.asarray(id_color(obs.obj_id), np.float32)
                out[m] = (out[m] * (1 - _MASK_ALPHA) + tint * _MASK_ALPHA).astype(np.uint8)
    scale = max(0.3, min(width, height) / 600)
    thickness = max(1, round(min(width, height) / 300))
    boxes, texts, sizes, ascents = [], [], [], []
    for obs in objects:
        x0, y0, x1, y1 = (int(v) for v in np.rint(np.asarray(obs.box_xyxy, dtype=np.float64).reshape(4)))
        boxes.append((x0, y0, x1, y1))
        cv2.rectangle(out, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), id_color(obs.obj_id), thickness)  # pixel-edge -> inclusive
        text = f"{obs.label} {obs.obj_id}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        texts.append(text)
        sizes.append((tw + 2, th + base + 2))
        ascents.append(th)
    for obs, text, th, (lx0, ly0, lx1, ly1) in zip(objects, texts, ascents, label_boxes(boxes, sizes, height)):
        color = id_color(obs.obj_id)
        cv2.rectangle(out, (lx0, ly0), (lx1 - 1, ly1 - 1), color, cv2.FILLED)
        cv2.putText(out, text, (lx0 + 1, ly0 + 1 + th), cv2.FONT_HERSHEY_SIMPLEX, scale, ink_for(color), 1, cv2.LINE_AA)
    return out


class AnnotatedVideoWriter:
    """Write annotated frames to an H.264 (libx264, yuv420p) MP4 at a constant `fps`, in a background thread.

    Odd sizes are padded by one pixel (yuv420p needs even ones). Arrays handed to `write` must not
    be changed afterwards. `close()` flushes and re-raises any encoder error.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float, queue_size: int = 8):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if width < 1 or height < 1:
            raise ValueError(f"invalid frame size {width}x{height}")
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.fps = float(fps)
        self.frames_written = 0
        self.encode_seconds = 0.0
        self._error: BaseException | None = None
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
        try:
            stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            stream.width, stream.height = self.width + self.width % 2, self.height + self.height % 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "23"}
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._thread = threading.Thread(target=self._run, name=f"render:{self.path.name}", daemon=True)
        self._thread.start()

    def write(self, rgb: np.ndarray, objects: Sequence[ObjectObservation]) -> None:
        """Queue one processed frame (RGB uint8, display size) with what was tracked on it."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: expected a ({self.height}, {self.width}, 3) uint8 frame, got {rgb.shape} {rgb.dtype}"
            )
        self._put((rgb, list(objects)))

    def close(self) -> None:
        """Flush the encoder, finish the file and re-raise any error from the encoding thread."""
        if not self._closed:
            self._closed = True
            self._put(_STOP)
            self._thread.join()
        if self._error is not None:
            self._raise_error()

    def _raise_error(self) -> None:
        raise RuntimeError(f"{self.path}: writing the annotated video failed: {self._error}") from self._error

    def __enter__(self) -> "AnnotatedVideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # an exception is already propagating: let it win
            self.close()
        except Exception:
            logger.debug("closing %s after an error", self.path, exc_info=True)

    def _put(self, item: object) -> None:
        while True:
            if not self._thread.is_alive():
                if self._error is not None:
                    self._closed = True
                    self._raise_error()
                return  # finished: nothing more to hand over
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not _STOP:
                rgb, objects = item
                t0 = time.perf_counter()
                frame = annotate_frame(rgb, objects)
                if frame.shape[:2] != (self._stream.height, self._stream.width):
                    pad = ((0, self._stream.height - frame.shape[0]), (0, self._stream.width - frame.shape[1]), (0, 0))
                    frame = np.pad(frame, pad, mode="edge")
                av_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
                av_frame.pts = self.frames_written
                self._container.mux(self._stream.encode(av_frame))
                self.frames_written += 1
                self.encode_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            self._container.mux(self._stream.encode(None))
            self._container.close()
            self.encode_seconds += time.perf_counter() - t0
        except BaseException as exc:
            self._error = exc
            logger.debug("annotated video %s failed", self.path, exc_info=True)
            try:
                self._container.close()
            except Exception:  # the first error is the one worth reporting
                pass
