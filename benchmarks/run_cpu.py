"""CPU benchmarks on the tiny random-weight models: one table of ratios measured side by side.

    python benchmarks/run_cpu.py            # the full run (about 5 minutes on 2 cores)
    python benchmarks/run_cpu.py --smoke    # every measurement at toy sizes (the test suite runs this)
    python benchmarks/run_cpu.py --only 1,2 # some measurements

1. peak RSS of the whole tracker on the same scene at 300 and 3,000 frames (fresh processes);
2. time per frame on a video where 40 objects pass through (<= 3 visible) vs one with 3 objects;
3. 20 short videos through one worker (models loaded once) vs loading the models per video;
4. (detect + track) / wall time per video, from the records' timing breakdown;
5. the real multiprocess batch with 1 vs 2 CPU workers (threads per worker = cores / workers);
6. the stock sam2.1_hiera_tiny architecture at its real 1024 input, random weights: 1 / 4 / 16 objects;
7. peak RSS of the record path (spooled frames -> results line -> read back) with masks, 10 objects,
   at 10,000 and 100,000 frames (fresh processes; `lang_sam_tracker.testing.long_record`);
8. objects SAM 2 follows under false positives and occlusions (the bad-as-real doubles);
9. peak RSS of SAM 3's tracker alone (`StreamingSAM3`, tiny SAM 3, 2 objects) at 200 and 2,000 frames
   (fresh processes; transformers >= 5).

Every process uses one thread except the batch workers of 5. Measurements 1 and 2 run the real tiny
SAM 2 but take boxes and visibility from the scene's ground truth (see `_common`), because random
weights cannot see the shapes; 3-5 run exactly what a worker runs (tiny Grounding DINO + tiny SAM 2).
The table goes to stdout; progress to stderr. Exit status 1 if a measurement failed to run.
"""

from __future__ import annotations

import os

# One thread per process, decided before torch is imported (here and in every child).
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import dataclasses
import json
import logging
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import (
    PROMPT,
    SceneDetector,
    SceneSegmenter,
    grid_scene,
    machine_lines,
    markdown_table,
    script_parser,
    peak_rss_mb,
)

from lang_sam_tracker.argtypes import positive_int

logger = logging.getLogger("benchmarks.run_cpu")

MAX_FRAMES = 60  # --max_frames default: conditioning-frame horizon of SAM 2's memory
CHILD_TIMEOUT_S = 480
CHURN_LIFE, CHURN_VISIBLE = 24, 3  # frames each churn object is on screen; objects visible at once


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is; `SMOKE` shrinks everything to seconds."""

    rss_frames: tuple[int, int] = (300, 3000)
    churn_objects: int = 40
    videos: int = 20
    video_frames: int = 30
    scaling_videos: int = 8
    scaling_frames: int = 90
    stock_image_size: int = 1024
    stock_objects: tuple[int, ...] = (1, 4, 16)
    stock_frames: int = 1
    repeats: int = 2
    record_frames: tuple[int, int] = (10_000, 100_000)
    identity_frames: int = 3000
    sam3_frames: tuple[int, int] = (200, 2000)


SMOKE = Sizes(
    rss_frames=(20, 40),
    churn_objects=4,
    videos=2,
    video_frames=4,
    scaling_videos=2,
    scaling_frames=6,
    stock_image_size=128,
    stock_objects=(1, 2),
    stock_frames=1,
    repeats=1,
    record_frames=(200, 2000),
    identity_frames=200,
    sam3_frames=(10, 30),
)


@dataclass
class Row:
    measurement: str
    a: str
    b: str
    ratio: float | None
    target: str = "–"
    ok: bool | None = None  # None: no target

    def cells(self) -> list[str]:
        ratio = "–" if self.ratio is None else f"{self.ratio:.2f}"
        ok = {None: "–", True: "yes", False: "**missed**"}[self.ok]
        return [self.measurement, self.a, self.b, ratio, self.target, ok]


@dataclass
class Env:
    """What every measurement needs: the sizes, a work folder and the tiny models in it."""

    sizes: Sizes
    work: Path
    models: dict[str, Path]
    notes: list[str] = dataclasses.field(default_factory=list)
    amortised: list[dict] | None = None  # per-video stats of measurement 3's one-worker run, reused by 4

    def model_paths(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.models.items()}


# ------------------------------------------------------------------ scenes and videos
def churn(n_objects: int):
    """Objects passing through one after another, at most 3 visible (`scenes.churn`)."""
    from lang_sam_tracker.testing import scenes

    return scenes.churn(n_objects=n_objects, max_visible=CHURN_VISIBLE, life=CHURN_LIFE)


def churn_cut(n_frames: int):
    """The churn scene cut to exactly `n_frames`. Objects are drawn from a fixed seed in order, so a
    shorter cut is a prefix of a longer one: one scene at several lengths."""
    gap = math.ceil(CHURN_LIFE / CHURN_VISIBLE)
    scene = churn(max(1, math.ceil((n_frames - CHURN_LIFE) / gap) + 1))
    return dataclasses.replace(scene, n_frames=n_frames)


def write(scene, path: Path) -> Path:
    from lang_sam_tracker.testing import scenes

    if not path.is_file():
        scenes.write_video(scene, path)
    return path


# ------------------------------------------------------------------ models
def load_tiny_segmenter(models: dict[str, str], batch_objects: bool = True):
    from lang_sam_tracker.segmenters.checkpoints import build_sam2_streaming
    from lang_sam_tracker.segmenters.sam2_stream import StreamingSAM2

    predictor = build_sam2_streaming("sam2.1_hiera_tiny", models["sam2_checkpoint"], models["sam2_config"], "cpu")
    return StreamingSAM2(predictor, max_frames=MAX_FRAMES, batch_objects=batch_objects)


def engine_run_config(
    models: dict[str, str], video_list: Path, output: Path, frames_per_video: int, num_workers: int | None = None
):
    """A worker's run settings: tiny SAM 2 + tiny HF Grounding DINO, 3 objects from the first frame.

    Random weights need these settings to give a fixed workload: detection only on the first frame
    (its random boxes would start new tracks on every detection frame), capped at 3 boxes,
    confirmed at once (random boxes are never re-detected), and duplicate collapse and drift checks
    off (random SAM 2 gives every object the same full-frame mask and arbitrary features).
    """
    from lang_sam_tracker.settings import ModelConfig, RunConfig
    from lang_sam_tracker.detectors import DetectorConfig
    from lang_sam_tracker.identity import IdentityConfig
    from lang_sam_tracker.tracker import TrackerConfig

    return RunConfig(
        video_list=video_list,
        text_prompt=PROMPT,
        output_jsonl=output,
        models=ModelConfig(
            sam_type="sam2.1_hiera_tiny",
            model_path=models["sam2_checkpoint"],
            sam_config=models["sam2_config"],
            max_frames=MAX_FRAMES,
            detector=DetectorConfig(model=models["grounding_dino_hf"], max_objects=3),
        ),
        tracker=TrackerConfig(
            detection_frequency=frames_per_video,
            identity=IdentityConfig(min_hits=1, duplicate_iou=1.01, drift_similarity=-1.0),
        ),
        device="cpu",
        num_workers=num_workers,
        resume=False,
    )


# ------------------------------------------------------------------ child processes
def run_children(specs: list[dict], parallel: bool = False, timeout_s: float = CHILD_TIMEOUT_S) -> list[dict]:
    """Run `specs` in fresh interpreters of this script (`--child`); their JSON results, in order."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child"]
    procs: list[subprocess.Popen] = []
    results = []

    def finish(proc: subprocess.Popen, spec: dict) -> dict:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise RuntimeError(f"child {spec['kind']} took over {timeout_s:.0f}s") from None
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            tail = (err.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"child {spec['kind']} failed (exit {proc.returncode}): {tail}")
        return json.loads(lines[-1][len("RESULT ") :])

    for spec in specs:
        proc = subprocess.Popen([*cmd, json.dumps(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if parallel:
            procs.append(proc)
        else:
            results.append(finish(proc, spec))
    results.extend(finish(p, s) for p, s in zip(procs, specs))
    return results


def child_main(spec: dict) -> dict:
    """Entry point of a child process; returns what the parent reads."""
    import torch

    torch.set_num_threads(1)
    if spec["kind"] == "rss":
        return _child_rss(spec["models"], Path(spec["video"]), spec["frames"])
    if spec["kind"] == "amortise":
        return _child_amortise(spec)
    if spec["kind"] == "sam3_rss":
        from _sam3 import sam3_rss_child

        return sam3_rss_child(spec["model"], spec["frames"])

    raise ValueError(f"unknown child kind {spec['kind']!r}")


def _child_rss(models: dict[str, str], video: Path, n_frames: int) -> dict:
    from lang_sam_tracker.tracker import TrackerConfig, VideoTracker

    scene = churn_cut(n_frames)
    segmenter = SceneSegmenter(load_tiny_segmenter(models), scene)
    tracker = VideoTracker(SceneDetector(scene), segmenter, TrackerConfig())
    state: dict = {}

    def on_frame(n: int, _total: int | None) -> None:
        if n == n_frames:
            state.update(segmenter.inner.stats())  # SAM 2's retained entries on the last frame

    record = tracker.process(str(video), PROMPT, on_frame=on_frame)
    text = json.dumps(record)  # what a worker hands back, serialised
    return {
        "peak_rss_mb": peak_rss_mb(),
        "frames": record["video_info"]["processed_frames"],
        "objects": record["stats"]["num_objects"],
        "record_mb": len(text) / 2**20,
        "elapsed_s": record["stats"]["elapsed_s"],
        "sam2_state": state,
    }


def _child_amortise(spec: dict) -> dict:
    """Models once for all videos (this project's worker) or once per video (the seed's scripts)."""
    from lang_sam_tracker.results import spool
    from lang_sam_tracker.batch.engine import Engine
    from lang_sam_tracker.batch.tasks import Slot, VideoTask

    work = Path(tempfile.mkdtemp(prefix="lst-amortise-"))
    run = engine_run_config(spec["models"], work / "unused.txt", work / "unused.jsonl", spec["frames"])
    slot = Slot(index=0, gpu=None, threads=1)
    engine = None
    records = []
    start = time.perf_counter()
    for video in spec["videos"]:
        if engine is None or spec["mode"] == "per_video":
            engine = Engine(run, slot, "cpu")
        result = engine.process(VideoTask(video, PROMPT))
        if not result.ok:
            raise RuntimeError(result.error)
        spool.discard(result.record)  # only the stats are kept; the spooled frames are not written anywhere
        records.append(result.record["stats"])
    total = time.perf_counter() - start
    shutil.rmtree(work, ignore_errors=True)
    return {"total_s": total, "stats": records}


# ------------------------------------------------------------------ the measurements
def measure_memory(env: Env) -> list[Row]:
    short, long = env.sizes.rss_frames
    videos = {n: write(churn_cut(n), env.work / f"churn_{n}.mp4") for n in (short, long)}
    # Peak RSS does not depend on timing, so both run at once.
    specs = [{"kind": "rss", "models": env.model_paths(), "video": str(videos[n]), "frames": n} for n in (short, long)]
    a, b = run_children(specs, parallel=True)
    ratio = b["peak_rss_mb"] / a["peak_rss_mb"]
    env.notes.append(
        f"1. churn scene cut to {a['frames']} / {b['frames']} frames ({a['objects']} / {b['objects']} track ids), "
        f"detection every frame; record {a['record_mb']:.1f} / {b['record_mb']:.1f} MiB of JSON; "
        f"SAM 2 state on the last frame: {b['sam2_state']}; the long run took {b['elapsed_s']:.0f} s"
    )
    return [
        Row(
            f"1. Peak RSS, whole tracker: A {short} frames, B {long} frames",
            f"{a['peak_rss_mb']:.0f} MiB",
            f"{b['peak_rss_mb']:.0f} MiB",
            ratio,
            "<= 1.10",
            ratio <= 1.10,
        )
    ]


@dataclass
class _PerFrame:
    wall_s: float
    cpu_s: float  # this process's CPU time (decoder thread included): less disturbed by other jobs
    tracked: float  # mean objects SAM 2 tracked per frame


def _track_video(segmenter, scene, video: Path) -> _PerFrame:
    from lang_sam_tracker.tracker import TrackerConfig, VideoTracker

    view = SceneSegmenter(segmenter, scene)
    cpu = time.process_time()
    record = VideoTracker(SceneDetector(scene), view, TrackerConfig()).process(str(video), PROMPT)
    cpu = time.process_time() - cpu
    frames = record["video_info"]["processed_frames"]
    return _PerFrame(record["stats"]["elapsed_s"] / frames, cpu / frames, float(np.mean(view.live_counts)))


def measure_objects_seen(env: Env) -> list[Row]:
    from lang_sam_tracker.testing import scenes
    from lang_sam_tracker.tracker import TrackerConfig

    many = churn(env.sizes.churn_objects)
    three = scenes.three_movers(n_frames=many.n_frames)
    warm = scenes.three_movers(n_frames=10)
    named = {"churn": many, "three": three, "warm": warm}
    paths = {name: write(s, env.work / f"{name}_{s.n_frames}.mp4") for name, s in named.items()}
    # One forward per object: this row measures how many objects SAM 2 follows, so each costs its
    # forward (batched, the default, extra objects cost far less: feed_bench.py's rows 2).
    segmenter = load_tiny_segmenter(env.model_paths(), batch_objects=False)
    _track_video(segmenter, warm, paths["warm"])
    runs: dict[str, list[_PerFrame]] = {"three": [], "churn": []}
    for _ in range(env.sizes.repeats):  # interleaved; the fastest repeat is the least disturbed
        for name, scene in (("three", three), ("churn", many)):
            runs[name].append(_track_video(segmenter, scene, paths[name]))
    a, b = (min(r.wall_s for r in runs[name]) for name in ("three", "churn"))
    cpu_a, cpu_b = (min(r.cpu_s for r in runs[name]) for name in ("three", "churn"))
    env.notes.append(
        f"2. {many.n_frames} frames each, 128x96, detection every frame, one forward per object, best of "
        f"{env.sizes.repeats}; SAM 2 tracked "
        f"{runs['three'][0].tracked:.2f} vs {runs['churn'][0].tracked:.2f} objects per frame on average (an object "
        f"that leaves through the border stays in SAM 2 for --exit_absent={TrackerConfig().identity.exit_absent} s); CPU time per frame {cpu_a * 1000:.1f} vs "
        f"{cpu_b * 1000:.1f} ms, ratio {cpu_b / cpu_a:.2f}"
    )
    ratio = b / a
    return [
        Row(
            f"2. Time per frame: A 3 objects, B {len(many.objects)} objects pass through (<= 3 visible)",
            f"{a * 1000:.1f} ms",
            f"{b * 1000:.1f} ms",
            ratio,
            "<= 1.20",
            ratio <= 1.20,
        )
    ]


def _short_videos(env: Env) -> list[str]:
    from lang_sam_tracker.testing import scenes

    path = write(scenes.three_movers(n_frames=env.sizes.video_frames), env.work / f"short_{env.sizes.video_frames}.mp4")
    return [str(path)] * env.sizes.videos


def measure_amortisation(env: Env) -> list[Row]:
    videos = _short_videos(env)
    spec = {"kind": "amortise", "models": env.model_paths(), "videos": videos, "frames": env.sizes.video_frames}
    # side by side in time, except in smoke runs, whose numbers mean nothing anyway
    parallel = env.sizes is SMOKE
    once, per_video = run_children([{**spec, "mode": "once"}, {**spec, "mode": "per_video"}], parallel=parallel)
    env.amortised = once["stats"]
    loads = [s["timing_s"]["load"] for s in per_video["stats"]]
    env.notes.append(
        f"3. {len(videos)} x a {env.sizes.video_frames}-frame 128x96 clip; loading tiny SAM 2 + tiny Grounding DINO "
        f"takes {statistics.median(loads):.2f} s (median), the first {loads[0]:.2f} s (imports); "
        f"real checkpoints load in seconds to tens of seconds, so the gap widens with real models"
    )
    return [
        Row(
            f"3. {len(videos)} videos, total: A models loaded once (worker), B per video (seed)",
            f"{once['total_s']:.1f} s",
            f"{per_video['total_s']:.1f} s",
            per_video["total_s"] / once["total_s"],
        )
    ]


def measure_overhead(env: Env) -> list[Row]:
    stats = env.amortised
    if stats is None:  # measurement 3 not run
        videos, frames = _short_videos(env), env.sizes.video_frames
        spec = {"kind": "amortise", "mode": "once", "models": env.model_paths(), "videos": videos, "frames": frames}
        stats = run_children([spec])[0]["stats"]
    compute = [s["timing_s"]["detect"] + s["timing_s"]["track"] for s in stats]
    wall = [s["elapsed_s"] for s in stats]
    per_video = sorted(c / w for c, w in zip(compute, wall))
    ratio = sum(compute) / sum(wall)
    decode = sum(s["timing_s"]["decode"] for s in stats)
    env.notes.append(
        f"4. per video: min {per_video[0]:.2f}, median {statistics.median(per_video):.2f}; decoding took "
        f"{decode:.2f} s in its own thread ({decode / sum(wall):.0%} of wall); compute here is tiny "
        f"(about {1000 * sum(compute) / (len(stats) * env.sizes.video_frames):.0f} ms per frame), so fixed "
        f"per-frame costs weigh more than with real models"
    )
    return [
        Row(
            f"4. {len(stats)} videos: A wall time, B detect + track time",
            f"{sum(wall):.2f} s",
            f"{sum(compute):.2f} s",
            ratio,
            ">= 0.90",
            ratio >= 0.90,
        )
    ]


def measure_scaling(env: Env) -> list[Row]:
    from lang_sam_tracker.batch import run_multiprocess
    from lang_sam_tracker.testing import scenes

    n, frames = env.sizes.scaling_videos, env.sizes.scaling_frames
    source = write(scenes.three_movers(n_frames=frames), env.work / f"scaling_{frames}.mp4")
    videos = []
    for i in range(n):  # distinct paths: the batch drops duplicate list entries
        path = env.work / f"scaling_{i}.mp4"
        shutil.copyfile(source, path)
        videos.append(str(path))
    video_list = env.work / "scaling.txt"
    video_list.write_text("\n".join(videos) + "\n")
    wall, busy = {}, {}
    for workers in (1, 2):
        output = env.work / f"scaling_{workers}.jsonl"
        run = engine_run_config(env.model_paths(), video_list, output, frames, num_workers=workers)
        start = time.perf_counter()
        summary = run_multiprocess(run)
        wall[workers] = time.perf_counter() - start
        if summary.completed != n:
            raise RuntimeError(f"{workers} worker(s): {summary.completed} of {n} videos completed")
        per_slot: dict[str, float] = {}
        for line in output.read_text().splitlines():
            stats = json.loads(line)["stats"]
            per_slot[stats["worker"]["slot"]] = per_slot.get(stats["worker"]["slot"], 0.0) + stats["elapsed_s"]
        busy[workers] = max(per_slot.values())  # the busiest worker's time inside videos
    cores = os.cpu_count() or 1
    env.notes.append(
        f"5. {n} x {frames}-frame clips through `run_multiprocess`: 1 worker x {cores} threads vs 2 workers x "
        f"{max(1, cores // 2)} thread(s); wall time includes spawning the workers and loading the models; "
        f"time inside videos only (busiest worker): {busy[1]:.1f} s vs {busy[2]:.1f} s, "
        f"speed-up {busy[1] / busy[2]:.2f}"
    )
    return [
        Row(
            f"5. Batch wall time ({cores} cores): A 2 workers, B 1 worker (ratio: speed-up)",
            f"{wall[2]:.1f} s",
            f"{wall[1]:.1f} s",
            wall[1] / wall[2],
        )
    ]


def measure_stock(env: Env) -> list[Row]:
    from _common import build_random_sam2, scene_boxes

    from lang_sam_tracker.segmenters.sam2_stream import StreamingSAM2
    from lang_sam_tracker.testing.scenes import render_frame

    size = env.sizes.stock_image_size
    overrides = [] if size == 1024 else [f"++model.image_size={size}"]
    predictor = build_random_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", "cpu", overrides)
    per_frame: dict[int, float] = {}
    prompt_s: dict[int, float] = {}
    for n in env.sizes.stock_objects:
        scene = grid_scene(n, 128, 96, env.sizes.stock_frames + 1)
        segmenter = StreamingSAM2(predictor, max_frames=MAX_FRAMES)
        start = time.perf_counter()
        segmenter.track(render_frame(scene, 0))
        segmenter.add_objects({gt: box for gt, (_, box) in scene_boxes(scene, 0).items()})
        prompt_s[n] = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(1, env.sizes.stock_frames + 1):
            segmenter.track(render_frame(scene, i))
        per_frame[n] = (time.perf_counter() - start) / env.sizes.stock_frames
    one = env.sizes.stock_objects[0]
    env.notes.append(
        f"6. sam2.1_hiera_t config at image size {size}, random weights, 128x96 input frames; "
        f"time of frame 1..{env.sizes.stock_frames} "
        f"after the box prompts (memory bank not yet full: steady state attends to 7 frames, so it costs more); "
        f"prompt frame (image encoder + boxes): " + ", ".join(f"{n} obj {s:.1f} s" for n, s in prompt_s.items())
    )
    return [
        Row(
            f"6. SAM 2.1 hiera-t @{size}, time per frame: A {one} object{'s' * (one > 1)}, B {n} objects",
            f"{per_frame[one]:.2f} s",
            f"{per_frame[n]:.2f} s",
            per_frame[n] / per_frame[one],
        )
        for n in env.sizes.stock_objects[1:]
    ]


def measure_record_memory(env: Env) -> list[Row]:
    short, long = env.sizes.record_frames
    objects = 10
    # Fresh interpreters that import only what the record path needs (no torch), both at once:
    # peak RSS does not depend on timing.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lang_sam_tracker.testing.long_record", "--frames", str(n), "--objects", str(objects),
             "--work", str(env.work / f"record_{n}")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])},
        )
        for n in (short, long)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=CHILD_TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"long_record failed (exit {proc.returncode}): {(err.strip().splitlines() or ['no output'])[-1]}")
        results.append(json.loads(out.splitlines()[-1]))
    a, b = results
    ratio = b["peak_rss_mb"] / a["peak_rss_mb"]
    env.notes.append(
        f"7. {objects} objects with 8x8 masks on 9 frames in 10, no models: a {a['line_mb']:.0f} / {b['line_mb']:.0f} MiB "
        f"results line, every frame read back and compared; the long run took {b['total_s']:.0f} s"
    )
    return [
        Row(
            f"7. Peak RSS, record path with masks: A {short} frames, B {long} frames",
            f"{a['peak_rss_mb']:.0f} MiB",
            f"{b['peak_rss_mb']:.0f} MiB",
            ratio,
            "<= 1.20",
            ratio <= 1.20,
        )
    ]


def _followed(scene, config, false_positives=None) -> tuple[float, float, int]:
    """Mean real objects and mean SAM 2 objects per frame, and the worst excess, on the bad-as-real doubles."""
    from lang_sam_tracker.testing import scenes
    from lang_sam_tracker.testing.doubles import DetectorFaults, NoisyDetector, StickySegmenter
    from lang_sam_tracker.tracker import VideoTracker

    with tempfile.TemporaryDirectory() as tmp:
        path = scenes.write_video(scene, Path(tmp) / "scene.mp4")
        detector = NoisyDetector(scene, faults=DetectorFaults(false_positive_rate=0.0), false_positives=false_positives)
        segmenter = StickySegmenter(scene)
        VideoTracker(detector, segmenter, config).process(str(path), PROMPT)
    real = [len(scenes.ground_truth(scene, i)) for i in range(scene.n_frames)]
    followed = [len(live) for live in segmenter.live_history]
    return float(np.mean(real)), float(np.mean(followed)), max(f - r for f, r in zip(followed[1:], real))


def measure_identity(env: Env) -> list[Row]:
    """Objects SAM 2 follows (its cost is linear in them) under false positives, and what waiting for
    occluded objects costs. Identity answers come from the doubles of testing.doubles."""
    from lang_sam_tracker.identity import IdentityConfig
    from lang_sam_tracker.testing import identity_scenes, scenes
    from lang_sam_tracker.tracker import TrackerConfig

    n = env.sizes.identity_frames
    walk = identity_scenes.long_walk(n_frames=n)
    rng = np.random.default_rng(0)
    fp = {}
    for i in range(5, n, 20):
        x, y = rng.uniform(0, 100), rng.uniform(0, 70)
        fp[i] = [("car", (x, y, x + 20, y + 20))]
    real, followed, worst = _followed(walk, TrackerConfig(), fp)
    occluded = scenes.leave_and_return(leave=n // 3, back=n // 3 + 60, n_frames=n)
    wait_real, wait, _ = _followed(occluded, TrackerConfig())
    _, quick, _ = _followed(occluded, TrackerConfig(identity=IdentityConfig(max_absent=8 / 30)))
    env.notes.append(
        f"8. {n} frames at 30 fps; a false box every 20 frames: at most {worst} object(s) more than real ones on any "
        f"frame. Occlusion: one of 2 objects hidden for 60 frames (2 s); SAM 2 keeps it for --max_absent="
        f"{IdentityConfig.max_absent} s and re-finds it itself, against leaving after 8 frames (the old rule)"
    )
    return [
        Row(
            "8a. SAM 2 objects per frame: A real objects, B followed with a false positive every 20 frames",
            f"{real:.2f}",
            f"{followed:.2f}",
            followed / real,
            "<= 1.20, max excess <= 2",
            followed / real <= 1.20 and worst <= 2,
        ),
        Row(
            "8b. SAM 2 objects per frame while waiting for an occluded one: A leave after 8 frames, B after --max_absent",
            f"{quick:.3f}",
            f"{wait:.3f}",
            wait / quick,
        ),
    ]


def measure_sam3_memory(env: Env) -> list[Row]:
    """Peak RSS of SAM 3's tracker alone (pruning on) at 200 and 2,000 frames, fresh processes."""
    from _sam3 import sam3_missing

    short, long = env.sizes.sam3_frames
    title = f"9. Peak RSS, SAM 3 tracker alone: A {short} frames, B {long} frames"
    why = sam3_missing()
    if why is not None or "sam3" not in env.models:
        return [Row(title, "–", f"skipped: {why}", None)]
    specs = [{"kind": "sam3_rss", "model": str(env.models["sam3"]), "frames": n} for n in (short, long)]
    a, b = run_children(specs, parallel=True, timeout_s=4 * CHILD_TIMEOUT_S)  # 2,000 frames of SAM 3 on one thread
    ratio = b["peak_rss_mb"] / a["peak_rss_mb"]
    env.notes.append(
        f"9. tiny SAM 3, {b['objects']} box-prompted objects, 128x96 frames; session at the last frame: "
        f"A {a['state']['tensors']} tensors / {a['state']['bytes'] / 2**20:.2f} MiB, "
        f"B {b['state']['tensors']} tensors / {b['state']['bytes'] / 2**20:.2f} MiB"
    )
    return [Row(title, f"{a['peak_rss_mb']:.0f} MiB", f"{b['peak_rss_mb']:.0f} MiB", ratio, "<= 1.10", ratio <= 1.10)]


MEASUREMENTS: dict[int, tuple[str, Callable[[Env], list[Row]]]] = {
    1: ("memory vs video length", measure_memory),
    2: ("cost vs objects seen", measure_objects_seen),
    3: ("model-load amortisation", measure_amortisation),
    4: ("overhead", measure_overhead),
    5: ("worker scaling", measure_scaling),
    6: ("stock model sizes", measure_stock),
    7: ("record memory vs video length", measure_record_memory),
    8: ("identities: objects followed", measure_identity),
    9: ("SAM 3 tracker memory vs video length", measure_sam3_memory),
}


# ------------------------------------------------------------------ main
def _parse_only(text: str) -> list[int]:
    chosen = sorted({int(x) for x in text.split(",") if x.strip()})
    bad = [c for c in chosen if c not in MEASUREMENTS]
    if bad or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(map(str, MEASUREMENTS))}, got {text!r}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="toy sizes: checks that every measurement runs, numbers mean nothing"
    )
    parser.add_argument(
        "--only",
        type=_parse_only,
        default=list(MEASUREMENTS),
        help="comma-separated measurement numbers (default: all)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep videos (and models) here (default: a temporary folder, removed)",
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=None,
        help="folder of the tiny models, built there if missing (default: WORKDIR/models)",
    )
    parser.add_argument(
        "--stock-frames",
        type=positive_int,
        default=None,
        help="frames timed per object count in measurement 6 (default 1)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # third-party deprecation chatter
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.child:
        print("RESULT " + json.dumps(child_main(json.loads(args.child))), flush=True)
        return 0

    # the product's own INFO lines (also in the batch workers, which inherit the root level) stay quiet
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logger.setLevel(logging.INFO)
    import torch

    from lang_sam_tracker.testing.tiny_models import build_all

    torch.set_num_threads(1)
    sizes = SMOKE if args.smoke else Sizes()
    if args.stock_frames:
        sizes = dataclasses.replace(sizes, stock_frames=args.stock_frames)
    header = machine_lines()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lst-bench-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = Env(sizes, work, build_all(args.models or work / "models"))
        rows: list[Row] = []
        failed = []
        for number in args.only:
            title, measure = MEASUREMENTS[number]
            logger.info("[%d] %s ...", number, title)
            t0 = time.perf_counter()
            try:
                rows.extend(measure(env))
            except Exception as exc:  # a benchmark reports what it could not measure and goes on
                logger.exception("[%d] %s failed", number, title)
                failed.append(number)
                rows.append(Row(f"{number}. {title}", "error", f"{type(exc).__name__}: {exc}"[:120], None))
            logger.info("[%d] done in %.0f s", number, time.perf_counter() - t0)
    total = time.perf_counter() - started
    print(f"## CPU benchmarks{' (--smoke: toy sizes, numbers mean nothing)' if args.smoke else ''}\n")
    print("\n".join(f"- {line}" for line in header))
    print(f"- one thread per process (batch workers: cores / workers); wall time of this run {total:.0f} s\n")
    print(markdown_table(["measurement", "A", "B", "ratio B/A", "target", "ok?"], [r.cells() for r in rows]))
    if env.notes:
        print("\nNotes:\n" + "\n".join(f"- {n}" for n in env.notes))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
