"""Synthetic scenes of moving coloured shapes with exact ground truth, written as real video files.

A `Scene` is a pure description (size, rate, objects with trajectories and presence intervals), so
any frame and its ground truth can be recomputed at any time: nothing is random at render time, and
the factories draw their randomness from a fixed seed. Also makes the broken files (truncated, text
named .mp4, audio only, empty, zero frames) the error paths are tested with.

Write the sample clips: ``python -m lang_sam_tracker.testing.scenes --write-assets assets/``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np

from .encoding import x264_options

logger = logging.getLogger(__name__)

Color = tuple[int, int, int]
# (gt_id, label, box) with the box in pixel-edge xyxy: covering columns 10..19 gives x0=10, x1=20.
GroundTruth = tuple[int, str, tuple[int, int, int, int]]

SHAPES = ("rect", "ellipse", "car", "person")


@dataclass(frozen=True)
class SceneObject:
    """One object: a filled shape of `size` whose top-left corner follows `waypoints`.

    `waypoints` are (frame, x, y), linearly interpolated and held before the first and after the
    last. `present` lists [start, stop) frame intervals in which the object exists (entering,
    leaving and returning); outside them it is not drawn and has no ground truth.
    """

    gt_id: int
    label: str
    color: Color
    size: tuple[int, int]  # (w, h) in pixels
    waypoints: tuple[tuple[int, float, float], ...]
    shape: str = "rect"
    present: tuple[tuple[int, int], ...] | None = None  # None: every frame

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; expected one of {SHAPES}")
        if not self.waypoints:
            raise ValueError("an object needs at least one waypoint")
        if min(self.size) < 2:
            raise ValueError(f"object size must be at least 2x2, got {self.size}")

    def is_present(self, i: int) -> bool:
        return self.present is None or any(start <= i < stop for start, stop in self.present)

    def top_left(self, i: int) -> tuple[int, int]:
        frames = [w[0] for w in self.waypoints]
        x = float(np.interp(i, frames, [w[1] for w in self.waypoints]))
        y = float(np.interp(i, frames, [w[2] for w in self.waypoints]))
        return int(round(x)), int(round(y))


@dataclass(frozen=True)
class Scene:
    """A clip: frame size, nominal rate, length and objects (drawn in order, later ones on top)."""

    width: int
    height: int
    fps: float
    n_frames: int
    objects: tuple[SceneObject, ...]
    background: Color = (48, 52, 60)
    name: str = "scene"
    occluders: tuple[tuple[int, int, int, int], ...] = ()  # pillars: xyxy boxes drawn over everything, never objects

    def __post_init__(self) -> None:
        ids = [o.gt_id for o in self.objects]
        if len(set(ids)) != len(ids):
            raise ValueError("gt_id values must be unique within a scene")


def _shape_template(shape: str, w: int, h: int) -> np.ndarray:
    """(h, w) bool silhouette of a shape drawn inside its w x h box."""
    yy, xx = np.mgrid[0:h, 0:w]
    if shape == "rect":
        return np.ones((h, w), bool)
    if shape == "ellipse":
        cx, cy = (w - 1) / 2, (h - 1) / 2
        return ((xx - cx) / max(cx, 0.5)) ** 2 + ((yy - cy) / max(cy, 0.5)) ** 2 <= 1.0 + 1e-9
    if shape == "car":  # body in the lower part, cabin on top, wheels at the bottom edge
        m = np.zeros((h, w), bool)
        m[int(h * 0.35) : int(h * 0.85), :] = True
        m[: int(h * 0.4) + 1, int(w * 0.25) : int(w * 0.75)] = True
        r = max(1.0, h * 0.17)
        for cx in (w * 0.22, w * 0.78):
            m |= (xx - cx) ** 2 + (yy - (h - 1 - r)) ** 2 <= r * r
        return m
    # person: round head on a narrower body, full height
    m = np.zeros((h, w), bool)
    head = max(1.0, min(w, h * 0.3) / 2)
    m |= (xx - (w - 1) / 2) ** 2 + (yy - head) ** 2 <= head * head
    m[int(head * 2) :, :] = True
    return m


def object_mask(scene: Scene, obj: SceneObject, i: int) -> np.ndarray | None:
    """Full (unoccluded) silhouette of `obj` in frame `i`, clipped to the frame; None when absent or off-screen."""
    if not obj.is_present(i):
        return None
    w, h = obj.size
    x, y = obj.top_left(i)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, scene.width), min(y + h, scene.height)
    if x0 >= x1 or y0 >= y1:
        return None
    mask = np.zeros((scene.height, scene.width), bool)
    mask[y0:y1, x0:x1] = _shape_template(obj.shape, w, h)[y0 - y : y1 - y, x0 - x : x1 - x]
    return mask


def visible_masks(scene: Scene, i: int) -> dict[int, np.ndarray]:
    """gt_id -> visible mask in frame `i` after occlusion by later objects; fully hidden objects left out."""
    masks = {o.gt_id: m for o in scene.objects if (m := object_mask(scene, o, i)) is not None}
    covered = np.zeros((scene.height, scene.width), bool)
    for x0, y0, x1, y1 in scene.occluders:
        covered[y0:y1, x0:x1] = True
    visible: dict[int, np.ndarray] = {}
    for obj in reversed(scene.objects):
        if obj.gt_id not in masks:
            continue
        m = masks[obj.gt_id] & ~covered
        covered |= masks[obj.gt_id]
        if m.any():
            visible[obj.gt_id] = m
    return visible


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight pixel-edge xyxy extent of a non-empty mask."""
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def ground_truth(scene: Scene, i: int) -> list[GroundTruth]:
    """(gt_id, label, visible box) of every object seen in frame `i`, in scene order."""
    visible = visible_masks(scene, i)
    return [(o.gt_id, o.label, mask_box(visible[o.gt_id])) for o in scene.objects if o.gt_id in visible]


def _background(scene: Scene) -> np.ndarray:
    """A gentle vertical gradient: cheap to encode, yet not a flat field."""
    ramp = np.linspace(-12, 12, scene.height, dtype=np.float32)[:, None, None]
    bg = np.clip(np.asarray(scene.background, np.float32)[None, None, :] + ramp, 0, 255)
    return np.broadcast_to(bg, (scene.height, scene.width, 3)).astype(np.uint8)


def render_frame(scene: Scene, i: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) of frame `i`."""
    if not 0 <= i < scene.n_frames:
        raise IndexError(f"frame {i} outside 0..{scene.n_frames - 1}")
    rgb = _background(scene).copy()
    for obj in scene.objects:
        mask = object_mask(scene, obj, i)
        if mask is not None:
            rgb[mask] = obj.color
    for x0, y0, x1, y1 in scene.occluders:
        rgb[y0:y1, x0:x1] = (128, 128, 128)
    return rgb


def vfr_timestamps(n_frames: int, fps: float, seed: int = 0) -> list[float]:
    """Variable-rate presentation times averaging about `fps`: intervals of 0.5x, 1x and 2x the nominal one."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([0.5, 1.0, 1.0, 2.0], size=max(n_frames - 1, 0)) / fps
    return [0.0, *np.round(np.cumsum(steps), 6).tolist()]


_TIME_BASE = Fraction(1, 90000)  # MPEG's clock, for explicit timestamps


def write_video(
    scene: Scene,
    path: str | os.PathLike,
    codec: str = "h264",
    fps: float | None = None,
    timestamps: Sequence[float] | None = None,
    rotation: int = 0,
    crf: int = 23,
    b_frames: bool = True,
) -> Path:
    """Encode the scene to `path` (MP4/MOV get the index at the front) and return the path.

    codec: "h264" (libx264, yuv420p) or "mpeg4". fps: write at this rate instead of the scene's.
    timestamps: explicit presentation times in seconds, one per frame (a variable-rate file).
    rotation: clockwise degrees a player must turn the picture (display-matrix metadata); the
    picture is stored turned the other way, so what a player shows equals `render_frame`.
    """
    if codec not in ("h264", "mpeg4"):
        raise ValueError(f"codec must be 'h264' or 'mpeg4', got {codec!r}")
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    if scene.width % 2 or scene.height % 2:
        raise ValueError(f"yuv420p needs an even frame size, got {scene.width}x{scene.height}")
    if timestamps is not None and len(timestamps) != scene.n_frames:
        raise ValueError(f"{len(timestamps)} timestamps for {scene.n_frames} frames")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps or scene.fps).limit_denominator(1001)
    quarter_turns = (rotation // 90) % 4
    width, height = (scene.height, scene.width) if quarter_turns % 2 else (scene.width, scene.height)
    options = {"movflags": "+faststart"} if path.suffix.lower() in (".mp4", ".mov", ".m4v") else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream("libx264" if codec == "h264" else "mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if timestamps is None:
            time_base = 1 / rate  # one tick per frame
        elif codec == "h264":
            time_base = _TIME_BASE
        else:
            time_base = Fraction(1, 60000)  # MPEG-4 Part 2 needs a clock below 2**16
        stream.codec_context.time_base = time_base
        stream.codec_context.thread_count = 1  # the bitstream depends on the thread count
        if codec == "h264":
            stream.options = x264_options(crf)  # repeatable: the same scene gives the same bytes
        if not b_frames:
            stream.codec_context.max_b_frames = 0
        if quarter_turns:
            stream.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
        for i in range(scene.n_frames):
            rgb = np.ascontiguousarray(np.rot90(render_frame(scene, i), k=quarter_turns))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i if timestamps is None else int(round(timestamps[i] / time_base))
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# ---------------------------------------------------------------- broken files for the error paths


def write_truncated(scene: Scene, path: str | os.PathLike, at_frame: int, mid_packet: bool = False) -> Path:
    """An H.264 MP4 (index at the front) cut where frame `at_frame`'s data starts, as if a copy was interrupted.

    Frames 0..at_frame-1 stay decodable; `mid_packet` cuts halfway into frame `at_frame`'s packet
    instead. No B-frames, so packet order is frame order.
    """
    if not 0 < at_frame < scene.n_frames:
        raise ValueError(f"at_frame must be in 1..{scene.n_frames - 1}")
    path = write_video(scene, path, b_frames=False)
    with av.open(str(path)) as container:
        entry = container.streams.video[0].index_entries[at_frame]
        cut = entry.pos + (entry.size // 2 if mid_packet else 0)
    os.truncate(path, cut)
    return path


def write_text_file(path: str | os.PathLike, text: str = "this is not a video\n") -> Path:
    """A text file, typically named .mp4."""
    path = Path(path)
    path.write_text(text)
    return path


def write_empty_file(path: str | os.PathLike) -> Path:
    """A 0-byte file."""
    path = Path(path)
    path.write_bytes(b"")
    return path


def write_audio_only(path: str | os.PathLike, seconds: float = 0.5, sample_rate: int = 16000) -> Path:
    """A valid MP4 holding one AAC audio stream (a 440 Hz tone) and no video."""
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=sample_rate)
        stream.layout = "mono"
        n = 1024
        for k in range(int(math.ceil(seconds * sample_rate / n))):
            t = (np.arange(n) + k * n) / sample_rate
            frame = av.AudioFrame.from_ndarray(
                (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = sample_rate, k * n
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_zero_frame_video(path: str | os.PathLike, width: int = 64, height: int = 48) -> Path:
    """A container (AVI, whatever the name) with a video stream header and no frames."""
    path = Path(path)
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.start_encoding()
    return path


# ---------------------------------------------------------------- named scenes

PALETTE: tuple[Color, ...] = (
    (230, 60, 50),
    (60, 200, 80),
    (70, 110, 240),
    (240, 200, 40),
    (200, 70, 220),
    (40, 210, 220),
)


def three_movers(width: int = 128, height: int = 96, n_frames: int = 90, fps: float = 30.0) -> Scene:
    """Three objects in separate lanes, never touching: two cars left to right, a person right to left."""
    lane = height // 3
    w, h = width // 6, lane * 2 // 3
    specs = [("car", "car", 0, 1), ("person", "person", 1, -1), ("car", "car", 2, 1)]
    objects = []
    for gt_id, (label, shape, row, direction) in enumerate(specs):
        size = (w, h) if shape == "car" else (max(4, h // 2), h)
        y = row * lane + (lane - h) // 2
        start, end = (2, width - size[0] - 2) if direction > 0 else (width - size[0] - 2, 2)
        objects.append(
            SceneObject(gt_id, label, PALETTE[gt_id], size, ((0, start, y), (n_frames - 1, end, y)), shape)
        )
    return Scene(width, height, fps, n_frames, tuple(objects), name="three_movers")


def crossing(width: int = 128, height: int = 96, n_frames: int = 60, fps: float = 30.0) -> Scene:
    """Two same-label objects whose paths cross mid-clip; the second passes partly in front of the first."""
    w, h = width // 5, height // 3
    y0, y1 = height // 2 - h // 2 - h // 4, height // 2 - h // 2 + h // 4
    a = SceneObject(0, "person", PALETTE[0], (w, h), ((0, 2, y0), (n_frames - 1, width - w - 2, y0)), "ellipse")
    b = SceneObject(1, "person", PALETTE[2], (w, h), ((0, width - w - 2, y1), (n_frames - 1, 2, y1)), "ellipse")
    return Scene(width, height, fps, n_frames, (a, b), name="crossing")


def churn(
    n_objects: int = 40,
    max_visible: int = 3,
    life: int = 24,
    width: int = 128,
    height: int = 96,
    fps: float = 30.0,
    seed: int = 0,
) -> Scene:
    """Objects passing through one after another, at most `max_visible` at once, each in its own lane.

    Object k exists for frames [k*gap, k*gap + life) with gap = ceil(life / max_visible).
    """
    rng = np.random.default_rng(seed)
    gap = math.ceil(life / max_visible)
    lane = height // max_visible
    w, h = max(4, width // 8), max(4, lane * 2 // 3)
    objects = []
    for k in range(n_objects):
        start = k * gap
        label = ("car", "person")[int(rng.integers(2))]
        size = (w, h) if label == "car" else (max(4, h // 2), h)
        y = (k % max_visible) * lane + (lane - h) // 2
        x0, x1 = 1, width - size[0] - 1
        if rng.random() < 0.5:
            x0, x1 = x1, x0
        color = tuple(int(c) for c in rng.integers(70, 256, size=3))
        path = ((start, x0, y), (start + life - 1, x1, y))
        objects.append(SceneObject(k, label, color, size, path, label, ((start, start + life),)))
    n_frames = (n_objects - 1) * gap + life
    return Scene(width, height, fps, n_frames, tuple(objects), name="churn")


def enter_at(frame: int = 40, n_frames: int = 90, width: int = 128, height: int = 96, fps: float = 30.0) -> Scene:
    """Two objects from the start; a third (gt_id 2) appears at `frame` in its own lane."""
    base = three_movers(width, height, n_frames, fps)
    late = base.objects[2]
    late = SceneObject(late.gt_id, late.label, late.color, late.size, late.waypoints, late.shape, ((frame, n_frames),))
    return Scene(width, height, fps, n_frames, (*base.objects[:2], late), name=f"enter_at_{frame}")


def leave_and_return(
    leave: int = 30, back: int = 40, n_frames: int = 90, width: int = 128, height: int = 96, fps: float = 30.0
) -> Scene:
    """Object 0 is gone for frames [leave, back) and comes back on its path; object 1 stays throughout."""
    base = three_movers(width, height, n_frames, fps)
    gone = base.objects[0]
    gone = SceneObject(
        gone.gt_id, gone.label, gone.color, gone.size, gone.waypoints, gone.shape, ((0, leave), (back, n_frames))
    )
    return Scene(width, height, fps, n_frames, (gone, base.objects[1]), name="leave_and_return")


# ---------------------------------------------------------------- sample assets


def _street(label: str, shape: str, width: int, height: int, n_frames: int, fps: float, seed: int) -> Scene:
    """A few objects of one kind crossing the frame at different speeds, one leaving early."""
    rng = np.random.default_rng(seed)
    w, h = (width // 4, height // 5) if shape == "car" else (width // 10, height // 3)
    objects = []
    for k in range(3):
        y = int(height * (0.12 + 0.3 * k))
        if y + h > height:
            y = height - h - 1
        left = rng.random() < 0.5
        x0, x1 = (-w // 2, width - w // 2) if left else (width - w // 2, -w // 2)
        last = int(n_frames * rng.uniform(0.8, 1.3))
        objects.append(SceneObject(k, label, PALETTE[k], (w, h), ((0, x0, y), (last, x1, y)), shape))
    return Scene(width, height, fps, n_frames, tuple(objects), name=f"{label}s")


def sample_assets() -> dict[str, tuple[Scene, dict]]:
    """The clips shipped in assets/: file name -> (scene, extra `write_video` arguments).

    The phone clip is stored landscape with a 90-degree display rotation and variable frame
    timing, as phones record.
    """
    phone = _street("person", "person", 96, 128, 45, 30.0, seed=3)
    return {
        "cars.mp4": (_street("car", "car", 160, 96, 75, 25.0, seed=1), {}),
        "people.mp4": (_street("person", "person", 128, 96, 60, 30.0, seed=2), {}),
        "phone.mp4": (phone, {"rotation": 90, "timestamps": vfr_timestamps(phone.n_frames, phone.fps, seed=3)}),
    }


def write_assets(out_dir: str | os.PathLike) -> list[Path]:
    """Write the sample clips (H.264, a few KB each) into `out_dir`."""
    out = Path(out_dir)
    written = [write_video(scene, out / name, crf=28, **extra) for name, (scene, extra) in sample_assets().items()]
    for p in written:
        logger.info("wrote %s (%.1f KB)", p, p.stat().st_size / 1024)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-assets", metavar="DIR", required=True, help="write the sample clips into DIR")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_assets(args.write_assets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
