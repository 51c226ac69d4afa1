"""Open, probe and decode videos with PyAV: exact timestamps, rotation applied, timestamp resampling.

Decoding runs in a background thread feeding a bounded queue, so the models never wait on I/O and
memory stays flat whatever the video length. Every failure is a one-line `VideoError` naming the
file and the cause; a file that stops decoding midway is an error, never a silently short stream.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from .errors import VideoError, one_line

logger = logging.getLogger(__name__)

# Timestamps are floats in seconds; grid comparisons tolerate this much rounding.
_EPS_S = 1e-6
# A stream that ends without a decoder error is complete if its last frame starts within this many
# frame intervals of the declared end (leaves room for a long last frame in variable-rate files and
# for edit lists that trim frames the index still counts).
_SHORT_READ_SLACK_FRAMES = 2.5


@dataclass(frozen=True)
class VideoInfo:
    """What a viewer sees: width/height after rotation metadata; `rotation` is the clockwise degrees applied."""

    width: int
    height: int
    original_fps: float
    total_frames: int
    duration_s: float
    rotation: int


@dataclass(frozen=True, eq=False)  # eq would compare pixel arrays element-wise
class Frame:
    """One decoded frame: source index (0-based decode order), presentation time, RGB in display orientation."""

    index: int
    time_s: float
    rgb: np.ndarray


def _cause(exc: BaseException) -> str:
    """A short reason without the path PyAV already repeats in its messages."""
    if isinstance(exc, av.FFmpegError):
        reason = exc.strerror or str(exc)
        if exc.log:  # FFmpeg's own log line is usually the most specific cause
            reason = f"{reason} ({one_line(exc.log[2])})"
        return one_line(reason)
    if isinstance(exc, OSError) and exc.strerror:
        return one_line(exc.strerror)
    return one_line(f"{type(exc).__name__}: {exc}")


def _open(path: str) -> av.container.InputContainer:
    """Open a container, turning every way a path can be bad into a one-line VideoError."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{path}: file not found")
    if p.is_dir():
        raise VideoError(f"{path}: is a directory, not a video file")
    if p.stat().st_size == 0:
        raise VideoError(f"{path}: file is empty (0 bytes)")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"{path}: cannot open as a video: {_cause(exc)}") from exc


def _video_stream(container: av.container.InputContainer, path: str) -> av.VideoStream:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(f"{path}: no video stream (streams: {', '.join(kinds)})")
    return container.streams.video[0]


def _rotation_cw(frame: av.VideoFrame, stream: av.VideoStream) -> int:
    """Clockwise degrees a player turns the picture: display matrix first, legacy 'rotate' tag second."""
    degrees = -frame.rotation  # PyAV reports the matrix as a counter-clockwise angle
    if degrees == 0:
        try:
            degrees = int(float(stream.metadata.get("rotate", 0)))
        except ValueError:
            degrees = 0
    degrees = int(round(degrees / 90.0)) * 90 % 360
    return degrees


def _rotate(rgb: np.ndarray, rotation_cw: int) -> np.ndarray:
    if rotation_cw == 0:
        return rgb
    # np.rot90 turns counter-clockwise for positive k; contiguous so torch.from_numpy can take it.
    return np.ascontiguousarray(np.rot90(rgb, k=-(rotation_cw // 90)))


def _rate(stream: av.VideoStream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return None


def _count_packets(path: str) -> int:
    """Frames in a stream whose container does not say (Matroska, WebM): demux only, no decoding."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        return sum(1 for packet in container.demux(stream) if packet.size > 0)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size as displayed, fps, frame count, duration and rotation; decodes the first frame to be sure there is one."""
    path = str(path)
    try:
        with _open(path) as container:
            stream = _video_stream(container, path)
            first = None
            try:
                for first in container.decode(stream):
                    break
            except (av.FFmpegError, OSError) as exc:
                raise VideoError(f"{path}: decoding failed before the first frame: {_cause(exc)}") from exc
            if first is None:
                raise VideoError(f"{path}: video stream has zero frames")
            rotation = _rotation_cw(first, stream)
            width, height = first.width, first.height
            total = int(stream.frames or 0)
            fps = _rate(stream)
            duration = None
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / av.time_base
        if total <= 0:
            total = _count_packets(path)
        if fps is None and duration:
            fps = total / duration
        if not fps:
            raise VideoError(f"{path}: cannot determine the frame rate")
        if not duration:
            duration = total / fps
    except VideoError:
        raise
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"{path}: cannot read video: {_cause(exc)}") from exc
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(width, height, fps, total, duration, rotation)


@dataclass(frozen=True, eq=False)
class _Decoded:
    """A decoded picture not yet converted to RGB (only the frames the sampler keeps are)."""

    index: int
    time_s: float
    picture: av.VideoFrame


class _FrameSampler:
    """Streaming choice of the frames nearest to the grid 0, 1/F, 2/F, ...; each frame used at most once.

    Grid points between two frames are decided when the later frame arrives, so look-ahead is one
    frame. A grid point whose nearest frame was already taken (a gap in a variable-rate file) is
    skipped; grid points after the last frame are not used.
    """

    def __init__(self, fps: float):
        self._fps = fps
        self._k = 0
        self._prev: _Decoded | None = None
        self._last_emitted = -1

    def push(self, frame: _Decoded) -> list[_Decoded]:
        out: list[_Decoded] = []
        while self._k / self._fps <= frame.time_s + _EPS_S:
            grid = self._k / self._fps
            prev = self._prev
            # Nearest by timestamp; ties go to the earlier frame.
            chosen = prev if prev is not None and grid - prev.time_s <= frame.time_s - grid + _EPS_S else frame
            if chosen.index != self._last_emitted:
                out.append(chosen)
                self._last_emitted = chosen.index
            self._k += 1
        self._prev = frame
        return out


_END = object()


class VideoReader:
    """Iterate `Frame`s of a video, decoded in a background thread through a bounded queue.

    `fps=None` gives every frame; `fps=F` the frames nearest to the grid 0, 1/F, ... (every frame
    when F >= the source rate). `max_frames` caps the frames yielded. Use as a context manager (or
    call `close()`) so the decoder thread stops even when iteration ends early.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | None = None,
        queue_size: int = 8,
        max_frames: int | None = None,
    ):
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        self.path = str(path)
        self.info = probe_video(self.path)
        self.fps = None if fps is None or fps >= self.info.original_fps - _EPS_S else float(fps)
        self.max_frames = max_frames
        self.decode_seconds = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def expected_frames(self) -> int | None:
        """About how many frames iteration yields (for progress and ETA), from the container's count; None if unknown."""
        info = self.info
        total = info.total_frames
        if self.fps is not None and info.original_fps > 0:
            # grid points up to the last frame's time (a quarter frame of slack for variable rates)
            last_s = max(0.0, info.duration_s - 0.75 / info.original_fps)
            total = min(total, int(last_s * self.fps + _EPS_S) + 1)
        if self.max_frames is not None:
            total = min(total, self.max_frames)
        return total if total > 0 else None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise RuntimeError("a VideoReader can be iterated only once")
        self._thread = threading.Thread(target=self._run, name=f"decode:{Path(self.path).name}", daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:  # also when the consumer stops early (break, exception): the thread must not linger
            self.close()

    def close(self) -> None:
        """Stop the decoder thread promptly, even mid-video, and wait for it."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return
        while thread.is_alive():
            try:  # unblock a producer waiting on a full queue
                self._queue.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)

    def _put(self, item: object) -> bool:
        """Hand an item to the consumer; False once close() was called."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            self._decode()
        except BaseException as exc:  # re-raised in the consumer's thread
            self._put(exc)
        finally:
            self._put(_END)

    def _decode(self) -> None:
        info = self.info
        sampler = _FrameSampler(self.fps) if self.fps else None
        yielded = 0
        decoded = 0
        last_time = 0.0
        with _open(self.path) as container:
            stream = _video_stream(container, self.path)
            stream.codec_context.thread_type = "AUTO"  # frame + slice threads
            time_base = stream.time_base
            start = float(stream.start_time * time_base) if stream.start_time is not None and time_base else None
            frames = container.decode(stream)
            while True:
                if self._stop.is_set():
                    return
                t0 = time.perf_counter()
                try:
                    av_frame = next(frames, None)
                except (av.FFmpegError, OSError) as exc:
                    raise self._failure(decoded, _cause(exc)) from exc
                if av_frame is None:
                    break
                if av_frame.time is not None:
                    if start is None:
                        start = float(av_frame.time)
                    time_s = max(0.0, float(av_frame.time) - start)  # leading frames may precede the stream start
                else:  # no timestamp: continue at the nominal rate
                    time_s = last_time + (1.0 / info.original_fps if decoded else 0.0)
                # undecided frames keep the decoder's picture; only the frames kept are converted to RGB
                pending = _Decoded(decoded, time_s, av_frame)
                decoded += 1
                last_time = time_s
                kept = sampler.push(pending) if sampler else [pending]
                chosen_frames = [Frame(d.index, d.time_s, _rotate(d.picture.to_ndarray(format="rgb24"), info.rotation)) for d in kept]
                self.decode_seconds += time.perf_counter() - t0
                for chosen in chosen_frames:
                    if not self._put(chosen):
                        return
                    yielded += 1
                    if self.max_frames is not None and yielded >= self.max_frames:
                        return
        self._check_complete(decoded, last_time)

    def _failure(self, decoded: int, cause: str) -> VideoError:
        total = self.info.total_frames
        where = f"after frame {decoded - 1} of {total}" if decoded else f"before the first frame ({total} expected)"
        return VideoError(f"{self.path}: decoding failed {where}: {cause}")

    def _check_complete(self, decoded: int, last_time: float) -> None:
        """A stream that ended quietly but well before its declared length is a truncated file."""
        info = self.info
        if decoded >= info.total_frames:
            return
        expected_last = info.duration_s - _SHORT_READ_SLACK_FRAMES / info.original_fps
        if decoded == 0 or last_time < expected_last:
            raise self._failure(
                decoded, f"stream ended early ({decoded} of {info.total_frames} frames, file truncated?)"
            )
        logger.debug("%s: %d of %d indexed frames decoded (edit list)", self.path, decoded, info.total_frames)
