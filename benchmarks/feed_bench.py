"""Host cost per 1080p frame and batched objects, measured side by side (issue 11's table).

    python benchmarks/feed_bench.py            # 1080p, 60 frames; 32 objects born on 1 or 8 frames
    python benchmarks/feed_bench.py --smoke    # toy sizes (the test suite runs this)

Rows:
1. host work per frame. A = bare PyAV decode of the same H.264 frames to RGB (the floor). B = decode
   plus everything else the tracking thread does with the frame before the model forwards: in
   "exact" mode PIL preprocessing for SAM 2 and the Hugging Face processor for the detector; in
   "fast" mode the copy into the pinned staging buffer and the dispatch of the device-side resize
   and normalisation for both models. The device work itself runs on torch's "meta" device (shape
   inference only): on a GPU it runs asynchronously and costs the host nothing but the dispatch.
2. SAM 2 time per frame on the tiny model with 32 objects (issue 19): born on one frame, or 4 at a
   time over 8 frames (as objects enter a real video), batched (every object in one forward,
   `sam2_batched`) or one forward per object (sam2's loop, `--sam2_exact`), and one object alone.
   Timed over the 24 frames after the last birth, which include the frames where the objects'
   memory windows still differ in size (padding); same process, frames interleaved.
3. host work per 1080p frame with 10 tracked masks (ellipses of 80-300 pixels a side): RLE
   encoding (`--save_masks`), drawing the annotated frame, and both. A = on the whole frame (the
   code before issue 11: pycocotools on each full mask, tint through full-frame boolean indexing),
   B = on each object's box crop (`maskcrop`). Same strings and pixels (tests/results/test_records.py,
   tests/render/test_render.py). RLE runs on the tracking thread, drawing in the annotated-video writer's
   thread, whose bounded queue stalls tracking whenever drawing and encoding fall behind.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import av
import numpy as np
import torch
from _common import machine_lines, markdown_table, script_parser

from lang_sam_tracker.detectors.hf_preprocess import HFDevicePreprocessor
from lang_sam_tracker.segmenters.preprocess import sam2_exact, sam2_fast
from lang_sam_tracker.results.record import ObjectObservation, mask_to_rle
from lang_sam_tracker.render.annotate import annotate_frame

SAM2_SIDE = 1024


def _write_video(path: Path, n_frames: int, height: int, width: int) -> Path:
    """A textured moving scene, H.264 at the given size."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(n_frames):
            img = np.roll(base, 4 * t, axis=1).copy()
            img[100 + t : 300 + t, 200:500] = (200, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _decode(path: Path, per_frame) -> float:
    """Seconds per frame to decode (single-threaded) to RGB and run `per_frame` on it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        n = 0
        start = time.perf_counter()
        for frame in container.decode(stream):
            per_frame(frame.to_ndarray(format="rgb24"))
            n += 1
        return (time.perf_counter() - start) / n


def _hf_processor():
    """The Grounding DINO image processor the detector loads (PIL), at its real settings (800 / 1333), no download needed."""
    try:  # transformers 5: the PIL backend has its own class (the plain name is the torchvision backend)
        from transformers import GroundingDinoImageProcessorPil as ImageProcessor
    except ImportError:
        from transformers import GroundingDinoImageProcessor as ImageProcessor

    return ImageProcessor(size={"shortest_edge": 800, "longest_edge": 1333})


def measure_host(path: Path, repeats: int) -> list[list[str]]:
    processor = _hf_processor()
    meta = torch.device("meta")
    device_pixels = HFDevicePreprocessor(processor, meta)
    staging: dict[tuple, torch.Tensor] = {}

    def exact(rgb: np.ndarray) -> None:
        sam2_exact(rgb, SAM2_SIDE, torch.device("cpu"))
        processor(images=[rgb], return_tensors="pt", input_data_format="channels_last")

    def fast(rgb: np.ndarray) -> None:
        # the host side of `upload_uint8` on CUDA: a copy into a pinned buffer (a plain one here),
        # once per model (SAM 2 and the detector upload the frame separately)
        buf = staging.setdefault(rgb.shape, torch.empty(rgb.shape, dtype=torch.uint8))
        buf.numpy()[...] = rgb
        buf.numpy()[...] = rgb
        sam2_fast(rgb, SAM2_SIDE, meta)
        device_pixels([rgb])

    times = {"decode": [], "exact": [], "fast": []}
    for _ in range(repeats):  # interleaved, so load changes hit all three alike
        times["decode"].append(_decode(path, lambda rgb: None))
        times["fast"].append(_decode(path, fast))
        times["exact"].append(_decode(path, exact))
    floor = statistics.median(times["decode"]) * 1000
    rows = []
    for mode, target in (("fast", 2.5), ("exact", None)):
        ms = statistics.median(times[mode]) * 1000
        ok = "–" if target is None else ("yes" if ms / floor <= target else "**missed**")
        rows.append([f"1. host work per 1080p frame, {mode}", f"{floor:.1f} ms (decode)", f"{ms:.1f} ms",
                     f"{ms / floor:.2f}", f"<= {target}" if target else "–", ok])
    return rows


def measure_objects(models: Path, n_objects: int, birth_frames: int, frames: int) -> list[list[str]]:
    """Rows 2: SAM 2 time per frame with `n_objects`, born on one frame or over `birth_frames` frames,
    batched or one forward per object, and one object alone; all on the same frames, interleaved."""
    from lang_sam_tracker.segmenters.checkpoints import build_sam2_streaming
    from lang_sam_tracker.segmenters.sam2_stream import StreamingSAM2
    from lang_sam_tracker.testing.tiny_sam2 import build_tiny_sam2

    yaml_path, ckpt_path = build_tiny_sam2(models)
    predictor = build_sam2_streaming("sam2.1_hiera_tiny", ckpt_path, yaml_path, "cpu")
    rng = np.random.default_rng(1)
    video = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(birth_frames + frames)]
    boxes = {i: np.array([i % 100, (3 * i) % 70, i % 100 + 24, (3 * i) % 70 + 24], np.float32) for i in range(n_objects)}
    per_birth = -(-n_objects // birth_frames)
    staggered = {t: {i: b for i, b in boxes.items() if i // per_birth == t} for t in range(birth_frames)}
    runs = {  # name -> (segmenter, {frame: boxes born on it})
        "one": (StreamingSAM2(predictor), {0: {0: boxes[0]}}),
        "per_object": (StreamingSAM2(predictor, batch_objects=False), staggered),
        "same_frame": (StreamingSAM2(predictor), {0: boxes}),
        "staggered": (StreamingSAM2(predictor), staggered),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for t, rgb in enumerate(video):  # interleaved, so load changes hit every run alike
        for name, (seg, births) in runs.items():
            start = time.perf_counter()
            seg.track(rgb)
            if t >= birth_frames:  # timed from the first frame every object is tracked on
                times[name].append(time.perf_counter() - start)
            if t in births:
                seg.add_objects(births[t])
    ms = {name: statistics.median(ts) * 1000 for name, ts in times.items()}
    born = f"born over {birth_frames} frames"

    def row(what: str, a: str, b: str, target: float | None) -> list[str]:
        ratio = ms[b] / ms[a]
        ok = "–" if target is None else ("yes" if ratio <= target else "**missed**")
        labels = {"one": "1 object", "per_object": f"per object, {born}", "same_frame": "batched, born on one frame",
                  "staggered": f"batched, {born}"}
        return [f"2. SAM 2 per frame, {what} (tiny)", f"{ms[a]:.1f} ms ({labels[a]})", f"{ms[b]:.1f} ms ({labels[b]})",
                f"{ratio:.2f}", "–" if target is None else f"<= {target}", ok]

    n = f"{n_objects} objects"
    return [
        row(f"{n} {born}: one forward per object vs batched", "per_object", "staggered", 0.5),
        row(f"{n} batched: born on one frame vs {born}", "same_frame", "staggered", 1.1),
        row(f"{n} born on one frame vs 1 object", "one", "same_frame", None),
        row(f"{n} {born} vs 1 object", "one", "staggered", None),
        row(f"{n} {born}, one forward per object vs 1 object", "one", "per_object", None),
    ]


def _ellipse_objects(rng: np.random.Generator, height: int, width: int, n: int) -> list[ObjectObservation]:
    """`n` filled ellipses, 80-300 pixels a side, with their tight pixel-edge boxes (as the tracker reports)."""
    objects = []
    ys, xs = np.ogrid[:height, :width]
    for k in range(n):
        ry, rx = rng.integers(40, 150, size=2)
        cy, cx = rng.integers(ry, height - ry), rng.integers(rx, width - rx)
        mask = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], np.float32)
        objects.append(ObjectObservation(k, "car", 0.9, box, mask=mask))
    return objects


def measure_masks(frames: int, n_masks: int = 10) -> list[list[str]]:
    rng = np.random.default_rng(2)
    scenes = [(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8), _ellipse_objects(rng, 1080, 1920, n_masks))
              for _ in range(frames)]

    def rle(objects, crop: bool) -> None:
        for o in objects:
            mask_to_rle(o.mask, o.box_xyxy if crop else None)

    def draw(rgb, objects, crop: bool) -> None:
        annotate_frame(rgb, objects, crop=crop)

    times = {(stage, crop): [] for stage in ("rle", "draw") for crop in (False, True)}
    for rgb, objects in scenes:  # interleaved, so load changes hit both alike
        for crop in (False, True):
            t0 = time.perf_counter()
            rle(objects, crop)
            t1 = time.perf_counter()
            draw(rgb, objects, crop)
            t2 = time.perf_counter()
            times["rle", crop].append(t1 - t0)
            times["draw", crop].append(t2 - t1)
    both = {crop: [r + d for r, d in zip(times["rle", crop], times["draw", crop])] for crop in (False, True)}
    rows = []
    for name, a_list, b_list in (
        ("RLE", times["rle", False], times["rle", True]),
        ("drawing", times["draw", False], times["draw", True]),
        ("RLE + drawing", both[False], both[True]),
    ):
        a, b = statistics.median(a_list) * 1000, statistics.median(b_list) * 1000
        rows.append([f"3. {name} per 1080p frame, {n_masks} masks", f"{a:.1f} ms (full frame)", f"{b:.1f} ms (box crops)",
                     f"{b / a:.2f}", "–", "–"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__)
    parser.add_argument("--smoke", action="store_true", help="toy sizes: a few frames, 4 objects")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the test video and tiny model (default: a temporary one)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="(?s).*Skipping the post-processing step")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        n_frames, repeats = (6, 1) if args.smoke else (60, 3)
        video = _write_video(work / "1080p.mp4", n_frames, 1080, 1920)
        rows = measure_host(video, repeats)
        n_objects, birth_frames, frames = (4, 2, 3) if args.smoke else (32, 8, 24)
        rows += measure_objects(work / "tiny", n_objects, birth_frames, frames)
        rows += measure_masks(2 if args.smoke else 20)
    print(f"## Feeding the GPU ({'--smoke' if args.smoke else 'full'})\n")
    print("\n".join(f"- {line}" for line in machine_lines()))
    print()
    print(markdown_table(["measurement", "A", "B", "ratio B/A", "target", "ok?"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
