"""GPU benchmark at the real model sizes, random weights (nothing downloaded): one table for the README.

    python benchmarks/gpu_bench.py             # one GPU: about 2-3 minutes, plus what vos_optimized's compile takes
    python benchmarks/gpu_bench.py --compile   # also with the product's --compile (adds compile minutes)
    python benchmarks/gpu_bench.py --smoke     # toy sizes, CPU is fine, seconds (the test suite runs this)

SAM 2.1 hiera-large (sam2's package config, `build_sam2_video_predictor`, no checkpoint) and a
Grounding DINO with the base model's configuration (Swin-B backbone, BERT-base text encoder,
random weights, saved and loaded like a hub folder), on a synthetic 1080p video whose objects stay
in their own grid cells. Measured on the same frames, one after the other:

* the whole pipeline (`VideoTracker`: decoding, detection every 1 and every 5 frames, identity
  logic, streaming SAM 2, records) with 1 / 8 / 32 objects;
* streaming SAM 2 alone on the decoded frames (box prompts on frame 0, then one `track` per frame),
  the "vs SAM 2 alone" column: pipeline fps / SAM 2 alone fps at the same object count;
* streaming SAM 2 alone with 1 / 8 / 32 / 64 objects born in equal groups over the first 8 frames
  (as objects enter a real video, so their memories differ: the issue-19 row), every object in one
  batched forward per frame, timed from frame 8 on; "time vs 1 object" is its time per frame over
  that of one object (1.0: objects cost nothing; N: N times one object, as a per-object loop);
* with `--compile`, all again after `sam2_compile.compile_sam2` (what the CLI's `--compile` does)
  and compiling the detector's vision backbone; every object count is warmed up first, so
  compilation and recompilation for a new batch size stay out of the timed rows;
* SAM 3 (`--pipeline sam3`: `Sam3Detector` and `StreamingSAM3`, bfloat16 autocast on CUDA) at
  facebook/sam3's architecture with random weights: the pipeline and its tracker alone, same rows
  (transformers >= 5; `--no-sam3` skips them);
* sam2's official `vos_optimized=True` predictor (`SAM2VideoPredictorVOS`, every module compiled
  with max-autotune) on the same frames as JPEGs, offline: `init_state` then `propagate_in_video`.
  It runs in a child process with whatever remains of `--budget-s`; if its compile does not fit,
  the table says so.

Random weights cost what trained ones cost but cannot find the objects, so answers (detections,
visibility) come from the scene's ground truth while every model runs in full (see `_common`).
SAM 2 runs under bfloat16 autocast on CUDA (as `StreamingSAM2` does), the detector under the
product's float16 autocast. Peak GPU memory is `torch.cuda.max_memory_allocated` above the
weights resident when the row starts. The device is CUDA when available, else the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
from _common import (
    PROMPT,
    SceneDetector,
    SceneSegmenter,
    build_random_sam2,
    grid_scene,
    machine_lines,
    markdown_table,
    script_parser,
    scene_boxes,
)

from lang_sam_tracker.argtypes import positive_float, positive_int

logger = logging.getLogger("benchmarks.gpu_bench")

MAX_FRAMES = 60  # --max_frames default


@dataclass(frozen=True)
class Profile:
    """Model and input sizes of a run."""

    sam_config: str
    sam_overrides: tuple[str, ...]
    detector: str  # "base": Grounding DINO base configuration; "tiny": the test suite's tiny model
    width: int
    height: int
    frames: int
    warmup_frames: int
    objects: tuple[int, ...]
    detect_every: tuple[int, ...]
    staggered_objects: tuple[int, ...]  # SAM 2 alone with objects born over `birth_frames` frames
    birth_frames: int


FULL = Profile(
    sam_config="configs/sam2.1/sam2.1_hiera_l.yaml",
    sam_overrides=(),
    detector="base",
    width=1920,
    height=1080,
    frames=60,
    warmup_frames=16,  # the memory bank is full after 7 frames, the pointer window after 16
    objects=(1, 8, 32),
    detect_every=(1, 5),
    staggered_objects=(1, 8, 32, 64),
    birth_frames=8,
)
SMOKE = Profile(
    sam_config="configs/sam2.1/sam2.1_hiera_t.yaml",
    sam_overrides=("++model.image_size=128",),
    detector="tiny",
    width=128,
    height=96,
    frames=4,
    warmup_frames=2,
    objects=(1, 2),
    detect_every=(1, 2),
    staggered_objects=(1, 2),
    birth_frames=2,
)


@dataclass
class Result:
    """One row of the table: a mode, a detection cadence and an object count, timed over `frames`."""

    mode: str
    detection: str
    objects: int
    frames: int
    seconds: float | None = None
    peak_bytes: int | None = None
    note: str = ""
    fps_alone: float | None = None  # SAM 2 alone on the same frames and object count, for the ratio
    fps_one: float | None = None  # the same mode with one object, for the cost ratio

    @property
    def fps(self) -> float | None:
        return self.frames / self.seconds if self.seconds else None

    def cells(self) -> list[str]:
        fps = self.fps
        ratio = f"{fps / self.fps_alone:.2f}" if fps and self.fps_alone else "–"
        cost = f"{self.fps_one / fps:.2f}" if fps and self.fps_one else "–"
        mem = f"{self.peak_bytes / 2**30:.2f}" if self.peak_bytes is not None else "–"
        return [
            self.mode,
            self.detection,
            str(self.objects),
            str(self.frames),
            f"{fps:.1f}" if fps else "–",
            f"{1000 / fps:.0f}" if fps else "–",
            ratio,
            cost,
            mem,
            self.note,
        ]


HEADERS = [
    "mode",
    "detection",
    "objects",
    "frames",
    "fps",
    "ms/frame",
    "vs SAM 2 alone",
    "time vs 1 object",
    "peak GPU GiB above weights",
    "notes",
]


# ------------------------------------------------------------------ models
def write_base_grounding_dino(folder: Path, device: str = "cpu") -> Path:
    """A `save_pretrained` folder with Grounding DINO base's configuration and random weights.

    The configuration is that of IDEA-Research/grounding-dino-base (Swin-B at 384 with window 12,
    a BERT-base text encoder, 6 + 6 layers, 900 queries) and its image processor's default
    800 / 1333 resize; the tokenizer is the tiny test vocabulary (token ids only index the
    embedding, so the vocabulary's content does not change the cost).
    """
    import torch
    from transformers import (
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    from lang_sam_tracker.testing.tiny_grounding_dino import write_tokenizer

    if (folder / "model.safetensors").is_file():
        return folder
    tokenizer = write_tokenizer(folder)
    backbone = SwinConfig(
        image_size=384,
        embed_dim=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        window_size=12,
        out_features=["stage2", "stage3", "stage4"],
        out_indices=[2, 3, 4],
    )
    config = GroundingDinoConfig(backbone_config=backbone, use_pretrained_backbone=False)  # text: BertConfig()
    torch.manual_seed(0)
    with torch.device(device):  # random initialisation of 230 M parameters is much faster on a GPU
        model = GroundingDinoForObjectDetection(config).eval()
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(), tokenizer=tokenizer).save_pretrained(
        str(folder)
    )
    model.save_pretrained(str(folder))
    return folder


def build_detector(profile: Profile, work: Path, device: str):
    from lang_sam_tracker.detectors.hf import HFZeroShotDetector
    from lang_sam_tracker.testing.tiny_grounding_dino import (
        build_tiny_hf_grounding_dino,
    )

    if profile.detector == "base":
        folder = write_base_grounding_dino(work / "grounding_dino_base_random", device)
    else:
        folder = build_tiny_hf_grounding_dino(work / "grounding_dino_tiny")
    return HFZeroShotDetector(str(folder), device=device)


def compile_heavy_modules(predictor, detector) -> None:
    """SAM 2 compiled as the product's `--compile` does (`compile_sam2`: image encoder static, the
    modules that see a batch of objects dynamic), and the detector's vision backbone (in place)."""
    from lang_sam_tracker.segmenters.sam2_compile import compile_sam2

    compile_sam2(predictor)
    detector.model.model.backbone.compile(dynamic=False)


def module_bytes(*modules) -> int:
    return sum(p.numel() * p.element_size() for m in modules for p in m.parameters())


# ------------------------------------------------------------------ input
def prepare_frames(profile: Profile, work: Path):
    """The grid scene with the most objects, as an H.264 file, decoded frames and a JPEG folder."""
    from PIL import Image

    from lang_sam_tracker.testing.scenes import write_video
    from lang_sam_tracker.video import VideoReader

    scene = grid_scene(max(profile.objects + profile.staggered_objects), profile.width, profile.height, profile.frames)
    video = write_video(scene, work / f"grid_{scene.width}x{scene.height}.mp4")
    with VideoReader(video) as reader:
        frames = [f.rgb for f in reader]
    jpegs = work / "jpeg"
    jpegs.mkdir(exist_ok=True)
    for i, rgb in enumerate(frames):  # the "<index>.jpg" folder sam2's offline loader reads
        Image.fromarray(rgb).save(jpegs / f"{i:05d}.jpg", quality=95)
    return scene, video, frames, jpegs


def first(scene, n: int):
    """The scene with only its first `n` objects: what the stand-ins report (the pixels keep all)."""
    return dataclasses.replace(scene, objects=scene.objects[:n])


# ------------------------------------------------------------------ measurements
class Meter:
    """Wall time and peak device memory of a block (memory above what was allocated at its start)."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.cuda = device.startswith("cuda")
        self.seconds = 0.0
        self.peak: int | None = None

    def __enter__(self) -> Self:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
            self._base = self.torch.cuda.memory_allocated()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.peak = self.torch.cuda.max_memory_allocated() - self._base
        self.seconds = time.perf_counter() - self._t0


def run_pipeline(detector, segmenter, scene, video: Path, k: int, device: str) -> Meter:
    from lang_sam_tracker.tracker import TrackerConfig, VideoTracker

    tracker = VideoTracker(
        SceneDetector(scene, k, inner=detector), SceneSegmenter(segmenter, scene), TrackerConfig(detection_frequency=k)
    )
    with Meter(device) as meter:
        record = tracker.process(str(video), PROMPT)
    if record["video_info"]["processed_frames"] != scene.n_frames:
        raise RuntimeError(f"processed {record['video_info']['processed_frames']} of {scene.n_frames} frames")
    return meter


def run_sam2_alone(segmenter, scene, frames: list[np.ndarray], device: str) -> Meter:
    segmenter.reset()
    with Meter(device) as meter:
        for i, rgb in enumerate(frames):
            segmenter.track(rgb)
            if i == 0:
                segmenter.add_objects({gt: box for gt, (_, box) in scene_boxes(scene, 0).items()})
    segmenter.reset()
    return meter


def run_sam2_staggered(segmenter, scene, frames: list[np.ndarray], birth_frames: int, device: str) -> Meter:
    """SAM 2 alone, the scene's objects born in equal groups on frames 0 .. birth_frames-1 (as objects
    enter a real video); timed from the frame after the last birth, when every object is tracked."""
    boxes = list(scene_boxes(scene, 0).items())
    per_frame = -(-len(boxes) // birth_frames)
    births = [{gt: box for gt, (_, box) in boxes[k : k + per_frame]} for k in range(0, len(boxes), per_frame)]
    segmenter.reset()
    for i, born in enumerate(births):
        segmenter.track(frames[i])
        segmenter.add_objects(born)
    with Meter(device) as meter:
        for rgb in frames[len(births) :]:
            segmenter.track(rgb)
    segmenter.reset()
    return meter


def measure_staggered(profile, segmenter, scene, frames, device, label: str) -> list[Result]:
    """SAM 2 alone with objects born on different frames, batched in one forward per frame (the
    product's default), per object count; warmed up first (compiled modules meet new batch sizes)."""
    warm = frames[: max(profile.warmup_frames, profile.birth_frames + 1)]
    for n in profile.staggered_objects:
        run_sam2_staggered(segmenter, first(scene, n), warm, profile.birth_frames, device)
    rows = []
    for n in profile.staggered_objects:
        births = -(-n // -(-n // profile.birth_frames))  # frames with births, as run_sam2_staggered cuts them
        row = Result(f"SAM 2 alone, births over {profile.birth_frames} frames{label}", "–", n, len(frames) - births)
        rows.append(_attempt(row, run_sam2_staggered, segmenter, first(scene, n), frames, profile.birth_frames, device))
    for row in rows:
        row.fps_one = rows[0].fps if rows[0].objects == 1 else None
    return rows


def measure_streaming(
    profile, detector, segmenter, scene, video, frames, device, label: str,
    pipeline_mode: str = "pipeline", alone_mode: str = "SAM 2 streaming alone",
) -> list[Result]:
    """Pipeline rows (per detection cadence and object count) and segmenter-alone rows, warmed up first:
    every object count (compiled modules recompile for each new batch of objects), then the pipeline."""
    for n in profile.objects:
        warm = dataclasses.replace(first(scene, n), n_frames=profile.warmup_frames)
        run_sam2_alone(segmenter, warm, frames[: profile.warmup_frames], device)
    run_pipeline(detector, segmenter, first(scene, 1), video, 1, device)
    alone: dict[int, Result] = {}
    for n in profile.objects:
        row = Result(f"{alone_mode}{label}", "–", n, len(frames))
        alone[n] = _attempt(row, run_sam2_alone, segmenter, first(scene, n), frames, device)
    rows = []
    for k in profile.detect_every:
        for n in profile.objects:
            row = Result(f"{pipeline_mode}{label}", f"every {k}", n, len(frames), fps_alone=alone[n].fps)
            rows.append(_attempt(row, run_pipeline, detector, segmenter, first(scene, n), video, k, device))
    return rows + list(alone.values())


def measure_sam3(profile: Profile, work: Path, device: str, scene, video: Path, frames) -> list[Result]:
    """The same rows for SAM 3 (`--pipeline sam3`: its detector and its tracker, bfloat16 autocast
    on CUDA): facebook/sam3's architecture with random weights, or the tiny SAM 3 in a smoke run."""
    from _sam3 import build_sam3_models, sam3_missing

    why = sam3_missing()
    if why is not None:
        return [Result("pipeline (SAM 3)", "–", 0, 0, note=f"skipped: {why}")]
    import torch

    logger.info("building SAM 3 and measuring it ...")
    detector, segmenter = build_sam3_models("tiny" if profile.detector == "tiny" else "full", work, device)
    logger.info("SAM 3 weights: detector %.2f GiB, tracker %.2f GiB (fp32)",
                module_bytes(detector.model) / 2**30, module_bytes(segmenter.model) / 2**30)
    rows = measure_streaming(
        profile, detector, segmenter, scene, video, frames, device, "", "pipeline (SAM 3)", "SAM 3 tracker alone"
    )
    del detector, segmenter
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return rows


def _attempt(row: Result, measure, *args) -> Result:
    """Fill `row` from `measure(*args)`; a failure becomes the row's note (the benchmark goes on)."""
    try:
        meter = measure(*args)
        row.seconds, row.peak_bytes = meter.seconds, meter.peak
    except Exception as exc:
        logger.exception("%s with %d objects failed", row.mode, row.objects)
        row.note = f"error: {type(exc).__name__}: {str(exc)[:100]}"
    return row


# ------------------------------------------------------------------ vos_optimized, in a child process
def vos_child(spec: dict) -> list[dict]:
    """Build sam2's VOS-optimized predictor, warm it up (compiles), then time each object count."""
    import torch

    from lang_sam_tracker.segmenters.sam2_stream import mask_boxes

    device = spec["device"]
    if torch.device(device).index is not None:
        torch.cuda.set_device(torch.device(device))
    if spec["no_compile"]:
        os.environ["TORCHDYNAMO_DISABLE"] = "1"  # smoke: torch.compile returns the code as it is
    profile = Profile(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["profile"].items()})
    scene = grid_scene(max(profile.objects + profile.staggered_objects), profile.width, profile.height, profile.frames)
    start = time.perf_counter()
    predictor = build_random_sam2(profile.sam_config, device, profile.sam_overrides, vos_optimized=True)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else contextlib.nullcontext()

    def propagate(n: int, max_frames: int | None) -> tuple[float, float, int | None]:
        """(init_state seconds, prompt + propagation seconds, peak memory of the whole, frames included)."""
        with torch.inference_mode(), autocast, Meter(device) as meter:
            t0 = time.perf_counter()
            state = predictor.init_state(spec["jpegs"])  # decodes and stores every frame
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            init_s = time.perf_counter() - t0
            for gt, (_, box) in scene_boxes(first(scene, n), 0).items():
                predictor.add_new_points_or_box(state, frame_idx=0, obj_id=gt, box=box)
            for _, _, logits in predictor.propagate_in_video(state, max_frame_num_to_track=max_frames):
                mask_boxes(logits[:, 0] > 0)[0].cpu()  # what the streaming side does with its masks
        del state
        return init_s, meter.seconds - init_s, meter.peak

    propagate(1, profile.warmup_frames)
    warmup_s = time.perf_counter() - start
    out = []
    for n in profile.objects:
        init_s, seconds, peak = propagate(n, None)
        out.append({"objects": n, "seconds": seconds, "peak": peak, "init_s": init_s, "warmup_s": warmup_s})
    return out


def measure_vos(profile: Profile, jpegs: Path, device: str, timeout_s: float, no_compile: bool) -> list[Result]:
    mode = "sam2 vos_optimized (offline)"
    if timeout_s < 10:
        return [Result(mode, "–", n, profile.frames, note="skipped: --budget-s used up") for n in profile.objects]
    spec = {"profile": dataclasses.asdict(profile), "jpegs": str(jpegs), "device": device, "no_compile": no_compile}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--vos-child", json.dumps(spec)]
    # its own process group: on timeout, inductor's compile workers go too
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        note = f"not finished in the {timeout_s:.0f} s left of --budget-s (max-autotune compile)"
        return [Result(mode, "–", n, profile.frames, note=note) for n in profile.objects]
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return [Result(mode, "–", n, profile.frames, note=f"error: {tail[:120]}") for n in profile.objects]
    rows = []
    for r in json.loads(lines[-1][len("RESULT ") :]):
        with_init = profile.frames / (r["init_s"] + r["seconds"])
        note = (
            f"init_state {r['init_s']:.1f} s first (loads every frame, encodes frame 0; its memory is included), "
            f"{with_init:.1f} fps with it; build + compile + warm-up {r['warmup_s']:.0f} s"
        )
        rows.append(Result(mode, "–", r["objects"], profile.frames, r["seconds"], r["peak"], note))
    return rows


# ------------------------------------------------------------------ main
def _int_list(text: str) -> tuple[int, ...]:
    values = tuple(positive_int(x) for x in text.split(",") if x.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="toy model and input sizes (runs on a CPU in seconds); numbers mean nothing",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also measure with SAM 2 compiled as the CLI's --compile does, and the detector's backbone compiled (side by side with eager)",
    )
    parser.add_argument("--no-vos", action="store_true", help="skip sam2's vos_optimized predictor")
    parser.add_argument("--no-sam3", action="store_true", help="skip the SAM 3 rows (they need transformers >= 5)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument(
        "--budget-s",
        type=positive_float,
        default=280.0,
        help="wall-clock budget; vos_optimized gets what is left (default %(default)s)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the models and frames here (default: a temporary folder)"
    )
    parser.add_argument("--frames", type=positive_int, default=None, help="frames of the synthetic video (default 60)")
    parser.add_argument("--objects", type=_int_list, default=None, help="object counts, e.g. 1,8,32 (the default)")
    parser.add_argument(
        "--staggered-objects",
        type=_int_list,
        default=None,
        help="object counts of the births-over-8-frames rows, e.g. 1,8,32,64 (the default)",
    )
    parser.add_argument(
        "--detect-every", type=_int_list, default=None, help="detection cadences, e.g. 1,5 (the default)"
    )
    parser.add_argument("--vos-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # third-party deprecation chatter
    warnings.filterwarnings("ignore", category=UserWarning)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.vos_child:
        print("RESULT " + json.dumps(vos_child(json.loads(args.vos_child))), flush=True)
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logger.setLevel(logging.INFO)

    import torch

    started = time.perf_counter()
    profile = SMOKE if args.smoke else FULL
    changes = {
        "frames": args.frames,
        "objects": args.objects,
        "detect_every": args.detect_every,
        "staggered_objects": args.staggered_objects,
    }
    profile = dataclasses.replace(profile, **{k: v for k, v in changes.items() if v is not None})
    profile = dataclasses.replace(profile, warmup_frames=min(profile.warmup_frames, profile.frames))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.device(device).index is not None:
        torch.cuda.set_device(torch.device(device))  # memory statistics and synchronisation follow it
    if args.smoke:  # --compile and vos_optimized in a smoke run: torch.compile returns the code as it is
        os.environ["TORCHDYNAMO_DISABLE"] = "1"
    header = machine_lines(device)
    with tempfile.TemporaryDirectory(prefix="lst-gpu-bench-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        logger.info(
            "building models and a %dx%d video of %d frames on %s ...",
            profile.width,
            profile.height,
            profile.frames,
            device,
        )
        detector = build_detector(profile, work, device)
        predictor = build_random_sam2(profile.sam_config, device, profile.sam_overrides)
        from lang_sam_tracker.segmenters.sam2_stream import StreamingSAM2

        segmenter = StreamingSAM2(predictor, max_frames=MAX_FRAMES)
        scene, video, frames, jpegs = prepare_frames(profile, work)
        weights = (
            f"weights: SAM 2 {module_bytes(predictor) / 2**30:.2f} GiB, "
            f"detector {module_bytes(detector.model) / 2**30:.2f} GiB (fp32)"
        )
        logger.info("measuring eager ...")
        rows = measure_streaming(profile, detector, segmenter, scene, video, frames, device, "")
        rows += measure_staggered(profile, segmenter, scene, frames, device, "")
        if args.compile:
            logger.info("compiling and measuring compiled ...")
            compile_heavy_modules(predictor, detector)
            rows += measure_streaming(profile, detector, segmenter, scene, video, frames, device, " (compiled)")
            rows += measure_staggered(profile, segmenter, scene, frames, device, " (compiled)")
        del detector, segmenter, predictor
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        if not args.no_sam3:
            rows += measure_sam3(profile, work, device, scene, video, frames)
        if not args.no_vos:
            left = args.budget_s - (time.perf_counter() - started)
            logger.info("sam2 vos_optimized in a child process (%.0f s left) ...", left)
            rows += measure_vos(profile, jpegs, device, left, no_compile=args.smoke)
    total = time.perf_counter() - started
    sam = Path(profile.sam_config).stem + "".join(f" {o}" for o in profile.sam_overrides)
    detector_name = "Grounding DINO base config" if profile.detector == "base" else "tiny test Grounding DINO"
    print(f"## GPU benchmark{' (--smoke: toy sizes, numbers mean nothing)' if args.smoke else ''}\n")
    print("\n".join(f"- {line}" for line in header))
    print(f"- random weights: SAM 2.1 {sam}, {detector_name}; {weights}")
    print(
        f"- input: synthetic {profile.width}x{profile.height} H.264, {profile.frames} frames; device {device}; "
        f"wall time of this run {total:.0f} s\n"
    )
    print(markdown_table(HEADERS, [r.cells() for r in rows]))
    return 1 if any(r.note.startswith("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
