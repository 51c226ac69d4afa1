"""Make the README's two pictures: an annotated frame and the HTML report.

    python docs/pictures.py            # writes docs/annotated_frame.png and docs/report.png

No model weights are involved: the clips are the package's synthetic scenes and the objects are
their ground truth (ids, labels, masks), written as a tracking run writes them (`RecordBuilder`)
and drawn by the same code as real results (`render.annotate`, `lang-sam-report`). Needs chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lang_sam_tracker.render.annotate import annotate_frame  # noqa: E402
from lang_sam_tracker.report.cli import write_report  # noqa: E402
from lang_sam_tracker.results.jsonl import JsonlAppender, record_failure  # noqa: E402
from lang_sam_tracker.results.record import ObjectObservation, RecordBuilder  # noqa: E402
from lang_sam_tracker.testing import scenes  # noqa: E402
from lang_sam_tracker.video import VideoReader  # noqa: E402


def observations(scene, i: int) -> list[ObjectObservation]:
    masks = scenes.visible_masks(scene, i)
    return [
        ObjectObservation(o.gt_id, o.label, 0.6 + 0.3 * ((i * 7 + o.gt_id * 3) % 10) / 10, scenes.mask_box(masks[o.gt_id]), mask=masks[o.gt_id])
        for o in scene.objects
        if o.gt_id in masks
    ]


def record(path: Path, scene, prompt: str) -> dict:
    with VideoReader(str(path)) as reader:
        builder = RecordBuilder(str(path), prompt, reader.info, save_masks=True)
        for frame in reader:
            builder.add_frame(frame.index, frame.time_s, observations(scene, frame.index))
    # no model ran: the record says so instead of showing made-up timings
    return builder.build(stats={"device": "ground truth, no model"}, meta={"fps": None})


def main() -> int:
    out = ROOT / "docs"
    work = Path(tempfile.mkdtemp())
    try:
        clips = {
            "passers-by.mp4": scenes.churn(n_objects=6, life=30, width=384, height=216),
            "street.mp4": scenes.three_movers(width=384, height=216, n_frames=60),
            "crossing.mp4": scenes.crossing(width=384, height=216, n_frames=60),
        }
        os.chdir(work)  # paths in the picture as a user would list them
        results = Path("results.jsonl")
        with JsonlAppender(results, index=True) as appender:
            for name, scene in clips.items():
                path = scenes.write_video(scene, Path("clips") / name)
                appender.append(record(path, scene, "person, car"))
        record_failure(results, "clips/corrupt.mp4", "person . car", "corrupt.mp4: moov atom not found (not a finished MP4)", 1)
        scene = clips["street.mp4"]
        frame = annotate_frame(scenes.render_frame(scene, 24), observations(scene, 24))
        Image.fromarray(frame).resize((frame.shape[1] * 2, frame.shape[0] * 2), Image.NEAREST).save(out / "annotated_frame.png", optimize=True)
        page = write_report(results, work / "report").resolve()
        shot = work / "report.png"
        subprocess.run(
            [shutil.which("chromium") or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1100,1150", f"--user-data-dir={work / 'profile'}", f"--screenshot={shot}", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )
        image = Image.open(shot).convert("RGB")
        image = image.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        image.save(out / "report.png", optimize=True)
        for name in ("annotated_frame.png", "report.png"):
            print(f"{out / name}: {(out / name).stat().st_size / 1024:.0f} KB")
    finally:
        os.chdir(ROOT)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
