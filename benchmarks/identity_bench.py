"""Cost of the identity step in crowds, beside SAM 2's own per-frame time.

    python benchmarks/identity_bench.py            # 10 / 50 / 100 objects at 1920x1080, 120 frames each
    python benchmarks/identity_bench.py --smoke    # toy sizes

The identity step is everything the tracker does per frame besides running the models: the views
of SAM 2's result (crops, speck-free boxes, mask IoU), observe, associate with detections on every
frame, prompt answers, decide, reportable. It gets what the real SAM 2 result carries (boxes,
presence, per-object crops, appearance vectors: see `segmenters.sam2_results`), with N people
walking in a 1080p frame, detections on every frame with jitter and 10 % misses. One thread. SAM 2's
time is the stock sam2.1_hiera_tiny architecture (random weights, 1024 input) tracking one object,
on the same CPU, after its prompt frame.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import sys
import time

import numpy as np
from _common import machine_lines, markdown_table, script_parser

from lang_sam_tracker.detectors.base import Detections
from lang_sam_tracker.identity import IdentityConfig, IdentityManager, frame_views
from lang_sam_tracker.identity.crops import full_crops
from lang_sam_tracker.segmenters.sam2_results import TrackedMasks

W, H = 1920, 1080


class Walkers:
    """N people of 30x80 px walking on straight lines that bounce off the frame's edges."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.pos = rng.uniform([0, 0], [W - 30, H - 80], (n, 2))
        self.vel = rng.uniform(-3, 3, (n, 2))
        self.look = rng.normal(0, 1, (n, 256)).astype(np.float32)
        self.look /= np.linalg.norm(self.look, axis=1, keepdims=True)

    def step(self) -> None:
        self.pos += self.vel
        over = (self.pos < 0) | (self.pos > [W - 30, H - 80])
        self.vel[over] *= -1
        self.pos = np.clip(self.pos, 0, [W - 30, H - 80])

    def boxes(self) -> np.ndarray:
        return np.round(np.concatenate([self.pos, self.pos + [30, 80]], axis=1))

    def result(self, objects: list[int]) -> TrackedMasks:
        """What SAM 2 hands the tracker for these objects (box-shaped masks, noisy appearance)."""
        boxes = self.boxes()[objects].astype(np.float32).reshape(-1, 4)
        look = self.look[objects] + self.rng.normal(0, 0.02, (len(objects), 256)).astype(np.float32)
        n = len(objects)
        return TrackedMasks(
            list(range(n)), boxes, np.full(n, 5.0, np.float32), np.ones(n, bool),
            appearance=look, crops=full_crops(boxes).cells,
        )


def identity_ms_per_frame(n: int, frames: int, warmup: int = 10) -> float:
    world = Walkers(n)
    ids = IdentityManager(IdentityConfig(), H, W)
    rgb = np.zeros((1, 1, 3), np.uint8)  # never read: the result carries appearance and crops
    bound: dict[int, int] = {}  # sam id -> walker
    spent = 0.0
    for i in range(warmup + frames):
        world.step()
        truth = world.boxes()
        sam_ids = sorted(bound)
        raw = world.result([bound[s] for s in sam_ids])
        raw.obj_ids = sam_ids
        keep = world.rng.random(n) > 0.1
        jitter = world.rng.normal(0, 1.5, (n, 4))
        dets = Detections((truth + jitter)[keep].astype(np.float32), np.full(int(keep.sum()), 0.6, np.float32), ["person"] * int(keep.sum()))
        t0 = time.perf_counter()
        views = frame_views(raw, rgb)
        seen = ids.observe(views, i / 30)
        prompts = ids.associate(dets, views, i / 30, seen)
        spent_here = time.perf_counter() - t0
        if prompts:
            for sam_id, box in prompts.new.items():  # SAM 2 binds each prompt to the walker under it
                bound[sam_id] = int(np.argmin(np.abs(truth[:, :2] - box[:2]).sum(axis=1)))
            pids = sorted(prompts.boxes())
            answer = world.result([bound[s] for s in pids])
            answer.obj_ids = pids
            t0 = time.perf_counter()
            answered = frame_views(answer, rgb)
            views.update(answered)
            seen = ids.prompted(answered, prompts, i / 30, seen)
            spent_here += time.perf_counter() - t0
        t0 = time.perf_counter()
        ids.decide(i / 30, detection_frame=True)
        ids.reportable(views, seen)
        for sam_id in ids.take_removals():
            bound.pop(sam_id, None)
        spent_here += time.perf_counter() - t0
        if i >= warmup:
            spent += spent_here
    assert len(ids.identities) <= 1.2 * n, (len(ids.identities), n)
    return spent / frames * 1000


def sam2_ms_per_frame(image_size: int, frames: int) -> float:
    from _common import build_random_sam2, grid_scene, scene_boxes

    from lang_sam_tracker.segmenters.sam2_stream import StreamingSAM2
    from lang_sam_tracker.testing.scenes import render_frame

    overrides = [] if image_size == 1024 else [f"++model.image_size={image_size}"]
    predictor = build_random_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", "cpu", overrides)
    scene = grid_scene(1, 128, 96, frames + 1)
    segmenter = StreamingSAM2(predictor, max_frames=60)
    segmenter.track(render_frame(scene, 0))
    segmenter.add_objects({gt: box for gt, (_, box) in scene_boxes(scene, 0).items()})
    start = time.perf_counter()
    for i in range(1, frames + 1):
        segmenter.track(render_frame(scene, i))
    return (time.perf_counter() - start) / frames * 1000


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__)
    parser.add_argument("--smoke", action="store_true", help="toy sizes (seconds)")
    args = parser.parse_args(argv)
    smoke = args.smoke
    frames = 10 if smoke else 120
    counts = (5, 10) if smoke else (10, 50, 100)
    import torch

    torch.set_num_threads(1)
    identity = {}
    for n in counts:
        identity[n] = identity_ms_per_frame(n, frames)
        print(f"{n} objects: {identity[n]:.2f} ms per frame", file=sys.stderr)
    sam2 = sam2_ms_per_frame(256 if smoke else 1024, 2 if smoke else 3)
    rows = [[f"{n} objects, {W}x{H}", f"{ms:.2f} ms", f"{sam2:.0f} ms", f"{ms / sam2:.4f}"] for n, ms in identity.items()]
    print("\n".join(machine_lines("cpu")))
    print()
    print(markdown_table(
        ["identity step per frame (1 thread)", "identity", f"SAM 2.1 hiera-t @{256 if smoke else 1024}, 1 object", "identity / SAM 2"],
        rows,
    ))
    print("\nTarget: <= 10 ms per frame at 100 objects (1080p). SAM 2's cost grows linearly with objects (one decoder pass each), the identity step's with detections x objects only where boxes meet.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
